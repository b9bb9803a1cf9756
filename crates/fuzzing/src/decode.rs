//! The decoder target: any bytes either fail to decode, or decode to a message that the
//! encoder turns back into a datagram within its size class, which decodes to the same
//! message and envelope.

use votechain_proto::limits::ENVELOPE_RESERVE;
use votechain_proto::{decode_envelope, encode, encode_with, EncodeError};

/// How much longer than the received datagram a re-encoding may be: fields the sender left
/// out and we write with their defaults (`REQUEST_CHAIN`'s `start` and `count`, a `null`
/// block). Beyond it, the encoder would be inflating what it received.
const DEFAULTS_SLACK: usize = 64;

/// Decodes `data`; when it is a message, checks the round trip and the size limit.
pub fn decode(data: &[u8]) {
    let Ok((message, envelope)) = decode_envelope(data) else {
        return;
    };
    assert_eq!(
        votechain_proto::decode(data).as_ref(),
        Ok(&message),
        "decode and decode_envelope agree"
    );
    let limit = message.size_class().limit();
    let body = match encode(&message) {
        Ok(body) => body,
        // A message received near its limit may not leave room for an envelope; one received
        // well within it must re-encode. A decoded message is within its bounds, so no other
        // encoding error is acceptable.
        Err(EncodeError::TooLarge { len, .. }) => {
            assert!(
                data.len() + DEFAULTS_SLACK + ENVELOPE_RESERVE > limit,
                "a {}-byte {} re-encodes to {len} bytes, over its limit {limit} less the envelope reserve",
                data.len(),
                message.type_name()
            );
            return;
        }
        Err(e) => panic!("decoded {} does not encode: {e}", message.type_name()),
    };
    assert!(
        body.len() + ENVELOPE_RESERVE <= limit,
        "encode keeps room for the envelope"
    );
    assert!(
        body.len() <= data.len() + DEFAULTS_SLACK,
        "re-encoding inflates the datagram"
    );
    let bytes = encode_with(&message, &envelope).expect("encode succeeded above");
    assert!(bytes.len() <= limit, "the envelope fits in the reserve");
    let (again, again_envelope) = match decode_envelope(&bytes) {
        Ok(decoded) => decoded,
        Err(e) => panic!(
            "re-encoded {} does not decode: {e}\n{}",
            message.type_name(),
            String::from_utf8_lossy(&bytes)
        ),
    };
    assert_eq!(again, message, "message round-trips");
    assert_eq!(again_envelope, envelope, "envelope round-trips");
    assert_eq!(encode(&again).as_ref(), Ok(&body), "encoding is canonical");
}
