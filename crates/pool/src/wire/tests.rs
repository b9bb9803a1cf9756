//! Every decode error, and the pool's lines read back.

use super::*;
use crate::job::tests::{course_job, header};

fn decode(line: &str) -> Result<Request, DecodeError> {
    decode_request(line.as_bytes())
}

#[test]
fn requests_decode() {
    assert_eq!(
        decode(r#"{"id":1,"method":"mining.subscribe","params":["m/1"]}"#),
        Ok(Request::Subscribe {
            id: 1,
            agent: Some("m/1".into())
        })
    );
    assert_eq!(
        decode(r#"{"id":2,"method":"mining.subscribe"}"#),
        Ok(Request::Subscribe { id: 2, agent: None })
    );
    assert_eq!(
        decode(r#"{"id":3,"method":"mining.authorize","params":["w","t"]}"#),
        Ok(Request::Authorize {
            id: 3,
            name: "w".into(),
            token: Some("t".into())
        })
    );
    assert_eq!(
        decode(r#"{"id":4,"method":"mining.authorize","params":["w"]}"#),
        Ok(Request::Authorize {
            id: 4,
            name: "w".into(),
            token: None
        })
    );
    let submit = decode(r#"{"id":5,"method":"mining.submit","params":["w","1f","00ff"]}"#);
    assert_eq!(
        submit,
        Ok(Request::Submit {
            id: 5,
            worker: "w".into(),
            job_id: "1f".into(),
            nonce: 255
        })
    );
    assert_eq!(submit.map(|r| r.id()), Ok(5));
}

#[test]
fn every_decode_error() {
    let long = vec![b' '; MAX_LINE + 1];
    assert_eq!(
        decode_request(&long),
        Err(DecodeError::TooLong(MAX_LINE + 1))
    );
    assert_eq!(decode_request(&[0xff, 0xfe]), Err(DecodeError::NotUtf8));
    assert_eq!(decode("{"), Err(DecodeError::NotJson));
    assert_eq!(decode("[1]"), Err(DecodeError::NotObject));
    assert_eq!(
        decode(r#"{"method":"mining.subscribe"}"#),
        Err(DecodeError::BadId)
    );
    assert_eq!(decode(r#"{"id":-1,"method":"x"}"#), Err(DecodeError::BadId));
    let unknown = decode(r#"{"id":7,"method":"mining.extranonce"}"#);
    assert_eq!(
        unknown,
        Err(DecodeError::UnknownMethod {
            id: 7,
            method: "mining.extranonce".into()
        })
    );
    assert_eq!(unknown.unwrap_err().id(), Some(7));
    assert!(matches!(
        decode(r#"{"id":7,"params":[]}"#),
        Err(DecodeError::UnknownMethod { id: 7, .. })
    ));
    for (line, reason) in [
        (
            r#"{"id":8,"method":"mining.submit","params":{}}"#,
            "params is not an array.",
        ),
        (
            r#"{"id":8,"method":"mining.authorize","params":[]}"#,
            "the name is missing.",
        ),
        (
            r#"{"id":8,"method":"mining.authorize","params":["w",3]}"#,
            "the token is not a string.",
        ),
        (
            r#"{"id":8,"method":"mining.submit","params":[]}"#,
            "the worker is missing.",
        ),
        (
            r#"{"id":8,"method":"mining.submit","params":["w"]}"#,
            "the job id is missing.",
        ),
        (
            r#"{"id":8,"method":"mining.submit","params":["w","1"]}"#,
            "the nonce is missing.",
        ),
        (
            r#"{"id":8,"method":"mining.submit","params":["w","1","xyz"]}"#,
            "the nonce is not 1 to 16 hex digits.",
        ),
        (
            r#"{"id":8,"method":"mining.submit","params":["w","1","00000000000000001"]}"#,
            "the nonce is not 1 to 16 hex digits.",
        ),
        (
            r#"{"id":8,"method":"mining.submit","params":["w","1",""]}"#,
            "the nonce is not 1 to 16 hex digits.",
        ),
        (
            r#"{"id":8,"method":"mining.submit","params":["w","1","+1"]}"#,
            "the nonce is not 1 to 16 hex digits.",
        ),
    ] {
        match decode(line) {
            Err(DecodeError::BadParams {
                id: 8, reason: r, ..
            }) => assert_eq!(r, reason, "{line}"),
            other => panic!("{line}: {other:?}"),
        }
    }
    assert!(DecodeError::TooLong(5000).to_string().ends_with('.'));
}

#[test]
fn pool_lines_read_back() {
    assert_eq!(
        decode_server_line(&encode_set_target(12)),
        Ok(ServerLine::SetTarget { share_bits: 12 })
    );
    let err = encode_error(Some(3), ErrorCode::StaleJob);
    assert_eq!(
        err,
        r#"{"error":[21,"The job is unknown or stale."],"id":3,"result":null}"#
    );
    assert_eq!(
        decode_server_line(&err),
        Ok(ServerLine::Response {
            id: Some(3),
            result: Err((21, "The job is unknown or stale.".into()))
        })
    );
    assert_eq!(
        decode_server_line(&encode_result(4, json!(true))),
        Ok(ServerLine::Response {
            id: Some(4),
            result: Ok(json!(true))
        })
    );
    for job in [Job::native(&header(9)), Job::comp3010(&course_job(3, 2))] {
        let line = encode_notify("a1", &job, true);
        assert_eq!(
            decode_server_line(&line),
            Ok(ServerLine::Notify {
                job_id: "a1".into(),
                job,
                clean: true
            })
        );
    }
    assert!(decode_server_line("[]").is_err());
    assert!(decode_server_line(r#"{"method":"mining.notify","params":[]}"#).is_err());
    assert!(decode_server_line(r#"{"method":"x","params":[]}"#).is_err());
    assert_eq!(nonce_hex(255), "00000000000000ff");
}

#[test]
fn snapshots_of_the_pool_lines() {
    assert_eq!(
        encode_set_target(12),
        r#"{"id":null,"method":"mining.set_target","params":[12]}"#
    );
    assert_eq!(
        encode_error(None, ErrorCode::Other),
        r#"{"error":[20,"The request could not be served."],"id":null,"result":null}"#
    );
    let mut tail = [0u8; 64];
    tail[8] = 0x80;
    tail[63] = 0x40;
    let job = Job::from_parts(JobKind::Native, [1, 2, 3, 4, 5, 6, 7, 8], tail, 0, 20, 9);
    let Ok(job) = job else {
        panic!("{job:?}");
    };
    let mid = "0000000100000002000000030000000400000005000000060000000700000008";
    let tail_hex = format!("{}80{}40", "00".repeat(8), "00".repeat(54));
    assert_eq!(
        encode_notify("2a", &job, false),
        format!(
            r#"{{"id":null,"method":"mining.notify","params":["2a","native","{mid}","{tail_hex}",0,20,9,false]}}"#
        )
    );
}

#[test]
fn miner_lines_decode_as_their_requests() {
    assert_eq!(
        encode_subscribe(1, "votechain-miner/0.2.0"),
        r#"{"id":1,"method":"mining.subscribe","params":["votechain-miner/0.2.0"]}"#
    );
    assert_eq!(
        decode(&encode_subscribe(1, "m/1")),
        Ok(Request::Subscribe {
            id: 1,
            agent: Some("m/1".into())
        })
    );
    assert_eq!(
        encode_authorize(2, "w", Some("t")),
        r#"{"id":2,"method":"mining.authorize","params":["w","t"]}"#
    );
    for token in [Some("t"), None] {
        assert_eq!(
            decode(&encode_authorize(2, "w \"x\"", token)),
            Ok(Request::Authorize {
                id: 2,
                name: "w \"x\"".into(),
                token: token.map(str::to_owned)
            })
        );
    }
    assert_eq!(
        encode_submit(3, "w", "1f", 255),
        r#"{"id":3,"method":"mining.submit","params":["w","1f","00000000000000ff"]}"#
    );
    assert_eq!(
        decode(&encode_submit(3, "w", "1f", u64::MAX)),
        Ok(Request::Submit {
            id: 3,
            worker: "w".into(),
            job_id: "1f".into(),
            nonce: u64::MAX
        })
    );
}
