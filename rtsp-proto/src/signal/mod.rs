//! RTSP signalling: messages, `$` interleaving, Transport, SDP, authentication and the
//! server session state machines. (Being written.)
