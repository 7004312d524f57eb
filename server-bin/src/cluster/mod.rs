//! The cluster: the stream directory in etcd, shared by every strom node.

pub mod etcd;
