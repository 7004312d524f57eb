//! stream-core: strom's protocol-agnostic hub.
//!
//! Protocol drivers publish into the hub and subscribe from it; the hub owns the media
//! model ([`Track`], [`Frame`]), the stream registry, publish arbitration, publisher resume
//! with timestamp rebasing, the GOP cache, bounded fan-out, lifecycle events and statistics.
//! It depends on tokio only for `sync` and `time`; it opens no sockets and spawns nothing but
//! its own timers.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use stream_core::{Codec, Frame, Hub, HubConfig, PeerInfo, StreamKey, SubscriberEvent, Track};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let hub = Hub::new(HubConfig::default());
//! let key = StreamKey::new("live", "cam1");
//!
//! let mut publisher = hub.publish(key.clone(), PeerInfo::internal(1)).unwrap();
//! publisher.set_tracks(vec![Track::new(0, Codec::H264, 90_000)]);
//!
//! let mut player = hub.subscribe(&key, PeerInfo::internal(2)).await.unwrap();
//! publisher
//!     .push(Frame {
//!         track: 0,
//!         dts_us: 0,
//!         pts_us: 0,
//!         keyframe: true,
//!         payload: Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88]),
//!         wire: Default::default(),
//!     })
//!     .unwrap();
//!
//! assert!(matches!(player.recv().await, Ok(SubscriberEvent::Tracks(t)) if t.len() == 1));
//! assert!(matches!(player.recv().await, Ok(SubscriberEvent::Frame(f)) if f.keyframe));
//!
//! drop(publisher); // the stream now lingers for `continue_push`, the player stays
//! assert_eq!(hub.stats().publishers, 0);
//! # }
//! ```
//!
//! # Stream life cycle
//!
//! ```text
//!              subscribe()                    publish()
//!   (absent) ─────────────► Waiting ─────────────────────────┐
//!      │  ▲                   │ last waiting subscriber       │
//!      │  │                   │ gives up (max_stream_wait)    ▼
//!      │  └───────────────────┘                   ┌────────► Live ◄──┐ takeover: kick policy,
//!      │                  publish()               │           │  └───┘ or stale publisher
//!      └──────────────────────────────────────────┘           │ Publisher dropped (any path)
//!                                           publish() within  ▼
//!                                           continue_push ◄ Lingering
//!                                           (resume: Live)    │ continue_push elapsed
//!                                                             ▼
//!   close_stream(), shutdown(), no-reader close ───────────► Closed (removed; key free)
//! ```
//!
//! * **Waiting**: subscribers arrived before any publisher; each waits at most
//!   `max_stream_wait`, then gets `NotFound`; the entry goes when the last one leaves.
//! * **Live**: one [`Publisher`] guard owns the stream. A second publisher is rejected
//!   (`AlreadyPublishing`, naming the owner) unless the policy is `Kick` or the owner is
//!   stale (no media for `publisher_idle_timeout`): then it takes over, and the old guard's
//!   `closed()` resolves with `TakenOver`; its later drop changes nothing (generation check).
//! * **Lingering**: the guard dropped (normal end, error, panic, task abort). Subscribers stay
//!   attached. A publish within `continue_push` resumes the stream: its timestamps are
//!   rebased so each track's dts keeps increasing for the players who stayed. Otherwise the
//!   subscribers drain their queues and end with `StreamEnded`, and the entry is removed.
//! * **Closed**: removed from the registry; the publisher's `closed()` and every subscriber's
//!   `recv()` report why ([`CloseReason`], [`EndReason`]).
//!
//! # Invariants (the fake-death rules)
//!
//! * The only way to be `Live` is to hold a [`Publisher`]; its `Drop` is the only release.
//! * Locks are `std::sync::Mutex`, held for a few map/queue operations, never across
//!   `.await`; poisoned locks are recovered rather than propagated.
//! * Every subscriber queue is bounded in frames and resident bytes
//!   ([`Frame::resident_bytes`]: payload plus cached wire forms), as is the GOP cache; a full
//!   queue skips to the next keyframe; a subscriber more than `max_lag` behind is
//!   disconnected. `push` never waits.
//! * Every wait has a deadline; timers run on tokio's clock (tests use a paused clock).
//!
//! See [`media`] for the canonical frame form.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod error;
mod events;
mod gop;
mod hub;
mod key;
pub mod media;
mod publisher;
mod queue;
mod registry;
mod resident;
mod stats;
mod stream;
mod subscriber;
mod timeline;

pub use config::{ConflictPolicy, HubConfig};
pub use error::{GatedError, PublishError, PushError, SubscribeError};
pub use events::{HubEvent, StreamCloseReason};
pub use hub::Hub;
pub use key::{check_name, NameError, NamePart, PeerInfo, Protocol, StreamKey, MAX_NAME_LEN};
pub use media::{Codec, Frame, Track, TrackId, WireCache, WireParts};
pub use publisher::{CloseReason, Publisher, MAX_TRACK_CHANGES, TRACK_CHANGE_WINDOW};
pub use stats::{HubStats, StreamSnapshot, StreamState, SubscriberSnapshot};
pub use subscriber::{EndReason, Subscriber, SubscriberEvent};

// The handles cross tasks and threads: keep that a compile-time fact.
const _: () = {
    const fn send<T: Send>() {}
    const fn sync<T: Sync>() {}
    send::<Hub>();
    sync::<Hub>();
    send::<Publisher>();
    send::<Subscriber>();
    send::<HubEvent>();
};
