//! The crate against what Python printed: every block in `fixtures/blocks.json` (made by
//! `fixtures/gen.py` with the W4119 peer's own `json.dumps` calls) is read from its wire form and
//! must give back Python's wire string, Python's hash input and Python's hash, byte for byte;
//! and the chain Python mined in `fixtures/chain.json` validates here. No Python runs at test time.

use votechain_w4119::block::hash_input;
use votechain_w4119::{
    genesis, meets_difficulty, python_dumps, w4119_hash, PyValue, Tally, W4119Block, W4119Chain,
    GENESIS_HASH,
};

const BLOCKS: &str = include_str!("fixtures/blocks.json");
const CHAIN: &str = include_str!("fixtures/chain.json");
const REFUSED: &str = include_str!("fixtures/refused.json");

fn text(value: &serde_json::Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("fixture lacks {key}"))
        .to_owned()
}

#[test]
fn every_python_block_is_reproduced_byte_for_byte() {
    let cases: Vec<serde_json::Value> = serde_json::from_str(BLOCKS).unwrap();
    assert_eq!(cases.len(), 6);
    for case in &cases {
        let name = text(case, "name");
        let wire = text(case, "wire");
        let block =
            W4119Block::from_json_bytes(wire.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(block.to_json_string(), wire, "{name}: wire form");
        assert_eq!(
            python_dumps(&PyValue::parse(wire.as_bytes()).unwrap(), false),
            wire,
            "{name}: dumps"
        );
        assert_eq!(
            hash_input(&block),
            text(case, "hash_input"),
            "{name}: hash input"
        );
        assert_eq!(w4119_hash(&block), text(case, "hash"), "{name}: hash");
        assert_eq!(block.hash, text(case, "hash"), "{name}: claimed hash");
        assert_eq!(block.check_alone(0), Ok(()), "{name}");
        if let Some(difficulty) = case["mined_at_difficulty"].as_u64() {
            let difficulty = difficulty as u32;
            assert!(meets_difficulty(&block.hash, difficulty), "{name}");
            assert_eq!(block.check_alone(difficulty), Ok(()), "{name}");
        }
    }
    let genesis_wire = text(&cases[0], "wire");
    assert_eq!(genesis().to_json_string(), genesis_wire);
    assert_eq!(w4119_hash(&genesis()), GENESIS_HASH);
}

#[test]
fn the_fixture_blocks_keep_what_python_put_in_them() {
    let cases: Vec<serde_json::Value> = serde_json::from_str(BLOCKS).unwrap();
    let block = |i: usize| W4119Block::from_json_bytes(text(&cases[i], "wire").as_bytes()).unwrap();
    assert_eq!(block(1).nonce, 299);
    let awkward = block(2);
    assert_eq!(awkward.transactions[0].voter_id(), Some("José 中文 😀"));
    assert_eq!(
        awkward.transactions[0].candidate_id(),
        Some("say \"hi\" \\ del\u{7f} ctl\u{1}\u{1f} nl\n tab\t")
    );
    let odd = block(3);
    assert!(odd.transactions[0].fields().get("extra").is_some());
    assert_eq!(odd.transactions[1].voter_id(), None);
    assert_eq!(odd.transactions[1].candidate_id(), Some("Adam"));
    assert_eq!(block(4).nonce, 1 << 40);
    assert_eq!(block(5).nonce, u64::MAX);
}

#[test]
fn the_chain_python_mined_validates_at_its_difficulty() {
    let fixture: serde_json::Value = serde_json::from_str(CHAIN).unwrap();
    let difficulty = fixture["difficulty"].as_u64().unwrap() as u32;
    let blocks: Vec<W4119Block> = fixture["wire"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| W4119Block::from_json_bytes(w.as_str().unwrap().as_bytes()).unwrap())
        .collect();
    let chain = W4119Chain::validate_chain(blocks.clone(), difficulty).unwrap();
    assert_eq!((chain.len(), chain.height()), (5, 4));
    // One difficulty up, the first mined block (almost surely) fails; at 64 every one does.
    let (position, _) = W4119Chain::validate_chain(blocks, 64).unwrap_err();
    assert_eq!(position, 1);

    // Python mined alice twice and a choice off the ballot; the honest tally counts neither.
    let ballot: Vec<String> = ["Adam", "Bob", "Catherine"].map(String::from).to_vec();
    let tally = Tally::of(chain.blocks(), &ballot);
    assert_eq!(
        tally.counts(),
        [
            ("Adam".to_string(), 1),
            ("Bob".to_string(), 1),
            ("Catherine".to_string(), 0)
        ]
    );
    let reasons: Vec<String> = tally.uncounted().iter().map(|u| u.to_string()).collect();
    assert_eq!(
        reasons,
        [
            "a transaction in block 3 by \"alice\" for \"Bob\" is not counted: the voter already \
             voted, and their vote in block 1 is the one counted",
            "a transaction in block 4 by \"erin\" for \"Zed\" is not counted: the choice is not on \
             the ballot"
        ]
    );
}

#[test]
fn blocks_w4119_refuses_are_refused_here() {
    let cases: Vec<serde_json::Value> = serde_json::from_str(REFUSED).unwrap();
    assert_eq!(cases.len(), 2);
    for case in &cases {
        let name = text(case, "name");
        let block = W4119Block::from_json_bytes(text(case, "wire").as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            matches!(
                block.check_alone(0),
                Err(votechain_w4119::W4119Error::Transaction { .. })
            ),
            "{name}: {:?}",
            block.check_alone(0)
        );
    }
}
