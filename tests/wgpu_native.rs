//! Native GPU parity through wgpu (Vulkan/Metal/DX12). On a machine without a GPU, Mesa's
//! lavapipe provides a Vulkan adapter (`cargo xtask test` installs it on Debian); with no
//! adapter at all the test prints why and passes without checking.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;

use common::{Parity, assert_matches, reference};
use webtune::model::SentenceEmbedder;
use webtune::platform::{native_gpu_device, read_model_folder};

#[test]
fn tiny_bert_matches_reference_on_native_gpu() {
    let (device, info) = match native_gpu_device() {
        Ok(found) => found,
        Err(reason) => {
            eprintln!("SKIPPED tiny_bert_matches_reference_on_native_gpu: no wgpu adapter ({reason})");
            return;
        }
    };
    eprintln!("native GPU: {}", info.summary());
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let files = read_model_folder(&fixtures.join("tiny-bert")).unwrap();
    let parity = Parity::parse(&std::fs::read_to_string(fixtures.join("tiny-bert.parity.json")).unwrap());
    let (model, _) = SentenceEmbedder::load(&files, &device, None).unwrap();
    let got = pollster::block_on(model.embed(&parity.texts())).unwrap();
    let (cos, diff) = assert_matches("tiny-bert on wgpu", &got, &parity.cases, &reference(&parity.cases), 1e-4);
    eprintln!("tiny-bert on {}: worst cosine {cos}, worst max abs diff {diff}", info.backend);
}
