#!/usr/bin/python3
"""A camera for the tests: GStreamer's RTSP server (gst-rtsp-server) serving
a live test pattern, H.264 (x264enc) and AAC (avenc_aac, or voaacenc), on
127.0.0.1, over RTP/UDP and TCP interleaved, optionally behind Digest or
Basic authentication.

    gst_rtsp_camera.py --port 0 --path /cam [--user U --password P] [--auth digest|basic]
                       [--no-audio] [--check]

Prints one line on stdout once listening, then serves until killed:

    READY rtsp://127.0.0.1:<port><path>

Debian packages: python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav
(`cargo xtask ci` installs them when run as root). Run it with the system
Python (/usr/bin/python3), which has the `gi` bindings.
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def pipeline(audio: bool) -> str:
    video = (
        "videotestsrc is-live=true pattern=ball "
        "! video/x-raw,width=320,height=240,framerate=25/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bitrate=500 "
        "! video/x-h264,profile=baseline "
        "! rtph264pay name=pay0 pt=96 config-interval=1"
    )
    if not audio:
        return f"( {video} )"
    encoder = "avenc_aac" if Gst.ElementFactory.find("avenc_aac") else "voaacenc"
    sound = (
        "audiotestsrc is-live=true wave=sine freq=440 "
        "! audioconvert ! audioresample ! audio/x-raw,rate=44100,channels=1 "
        f"! {encoder} ! rtpmp4gpay name=pay1 pt=97"
    )
    return f"( {video} {sound} )"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="RTSP port on 127.0.0.1 (0: any free)")
    ap.add_argument("--path", default="/cam", help="mount path")
    ap.add_argument("--user", help="require this user (with --password)")
    ap.add_argument("--password", default="")
    ap.add_argument("--auth", choices=["digest", "basic"], default="digest")
    ap.add_argument("--no-audio", action="store_true", help="video only")
    ap.add_argument("--check", action="store_true", help="exit 0 if every element is there")
    args = ap.parse_args()

    Gst.init(None)
    if args.check:
        needed = ["videotestsrc", "x264enc", "rtph264pay", "audiotestsrc", "rtpmp4gpay"]
        missing = [e for e in needed if not Gst.ElementFactory.find(e)]
        if not (Gst.ElementFactory.find("avenc_aac") or Gst.ElementFactory.find("voaacenc")):
            missing.append("avenc_aac or voaacenc")
        if missing:
            print("missing GStreamer elements: " + ", ".join(missing), file=sys.stderr)
            return 1
        return 0
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(pipeline(not args.no_audio))
    factory.set_shared(True)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP | GstRtsp.RTSPLowerTrans.TCP)

    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        if args.auth == "digest":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(args.user, args.password, token)
        else:
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        factory.add_role_from_structure(
            Gst.Structure.from_string(
                "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )[0]
        )

    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}{args.path}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
