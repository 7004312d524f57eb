//! RTP media: RTP and RTCP packets, and the H.264, H.265 and AAC packetizers and
//! depacketizers. (Being written.)
