//! Building and sending the wire packets.

use super::{FsError, Outgoing};
use crate::proto::fstypes::packet::PacketType;
use crate::proto::fstypes::{Packet, Stat};

/// A listing entry, or with `None` the end of the listing.
pub fn stat(stat: Option<Stat>) -> Packet {
    Packet { r#type: PacketType::PacketStat.into(), stat, ..Packet::default() }
}

/// A request for the content of entry `id`.
pub fn request(id: u32) -> Packet {
    Packet { r#type: PacketType::PacketReq.into(), id, ..Packet::default() }
}

/// Content of entry `id`; empty data ends the file.
pub fn data(id: u32, data: Vec<u8>) -> Packet {
    Packet { r#type: PacketType::PacketData.into(), id, data, ..Packet::default() }
}

pub fn fin() -> Packet {
    Packet { r#type: PacketType::PacketFin.into(), ..Packet::default() }
}

/// A failure, told to the peer as text.
pub fn error(message: &str) -> Packet {
    Packet { r#type: PacketType::PacketErr.into(), data: message.as_bytes().to_vec(), ..Packet::default() }
}

pub async fn send(outgoing: &Outgoing, packet: Packet) -> Result<(), FsError> {
    outgoing.send(Ok(packet)).await.map_err(|_| FsError::OutgoingClosed)
}

/// For the blocking pool's threads, which must not await.
pub fn send_blocking(outgoing: &Outgoing, packet: Packet) -> Result<(), FsError> {
    outgoing.blocking_send(Ok(packet)).map_err(|_| FsError::OutgoingClosed)
}
