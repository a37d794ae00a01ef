//! Native GPU parity through wgpu (Vulkan/Metal/DX12). On a machine without a GPU, Mesa's
//! lavapipe provides a Vulkan adapter (`cargo xtask test` installs it on Debian); with no
//! adapter at all the tests print why and pass without checking. `cargo xtask test` runs
//! this file a second time on SwiftShader's Vulkan driver (the one inside Chromium's
//! WebGPU), with `WEBTUNE_EXPECT_ADAPTER=SwiftShader` so that it cannot quietly run on
//! another adapter.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;

use burn::tensor::{Device, Tensor};
use common::{Parity, assert_matches, reference};
use webtune::model::{SentenceEmbedder, gelu_exact, gelu_tanh, tanh_finite};
use webtune::platform::{GpuInfo, cpu_device, native_gpu_device, read_model_folder};

/// The wgpu device, or `None` (with the reason printed) when there is no adapter.
fn gpu(test: &str) -> Option<(Device, GpuInfo)> {
    let found = match native_gpu_device() {
        Ok(found) => found,
        Err(reason) => {
            eprintln!("SKIPPED {test}: no wgpu adapter ({reason})");
            return None;
        }
    };
    if let Ok(expected) = std::env::var("WEBTUNE_EXPECT_ADAPTER") {
        assert!(found.1.name.contains(&expected), "expected a {expected} adapter, got {}", found.1.summary());
    }
    eprintln!("native GPU: {}", found.1.summary());
    Some(found)
}

#[test]
fn tiny_bert_matches_reference_on_native_gpu() {
    let Some((device, info)) = gpu("tiny_bert_matches_reference_on_native_gpu") else { return };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let files = read_model_folder(&fixtures.join("tiny-bert")).unwrap();
    let parity = Parity::parse(&std::fs::read_to_string(fixtures.join("tiny-bert.parity.json")).unwrap());
    let (model, _) = SentenceEmbedder::load(&webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap(), &device, None).unwrap();
    let got = pollster::block_on(model.embed(&parity.texts())).unwrap();
    let (cos, diff) = assert_matches("tiny-bert on wgpu", &got, &parity.cases, &reference(&parity.cases), 1e-4);
    eprintln!("tiny-bert on {}: worst cosine {cos}, worst max abs diff {diff}", info.backend);
}

/// Values and gradients of `f` at inputs from −1000 to 1000.
fn values_and_gradients(f: fn(Tensor<1>) -> Tensor<1>, device: &Device) -> (Vec<f32>, Vec<f32>) {
    let xs: Vec<f32> = vec![-1000.0, -100.0, -89.0, -50.0, -20.0, -13.5, -5.0, -1.0, 0.0, 1.0, 5.0, 13.5, 20.0, 50.0, 89.0, 100.0, 1000.0];
    let x = Tensor::<1>::from_floats(xs.as_slice(), &device.clone().autodiff()).require_grad();
    let y = f(x.clone());
    let grads = y.clone().sum().backward();
    let dx = x.grad(&grads).unwrap();
    let read = |t: Tensor<1>| pollster::block_on(t.into_data_async()).unwrap().try_into_vec::<f32>().unwrap();
    (read(y.inner()), read(dx))
}

/// The activations the models use give finite values and gradients for any finite input,
/// equal to the CPU's. SwiftShader's `tanh` is NaN from |x| ≈ 89 on, which made burn's
/// GELU backward (built on tanh) NaN for |x| ≳ 13 and broke training the bundled model in
/// Chromium's WebGPU.
#[test]
fn activations_stay_finite_and_match_the_cpu_on_native_gpu() {
    let Some((device, _)) = gpu("activations_stay_finite_and_match_the_cpu_on_native_gpu") else { return };
    for (name, f) in [("gelu", gelu_exact as fn(Tensor<1>) -> Tensor<1>), ("gelu_tanh", gelu_tanh), ("tanh", tanh_finite)] {
        let (gpu_y, gpu_dy) = values_and_gradients(f, &device);
        let (cpu_y, cpu_dy) = values_and_gradients(f, &cpu_device());
        for (what, gpu, cpu) in [("value", &gpu_y, &cpu_y), ("gradient", &gpu_dy, &cpu_dy)] {
            assert!(gpu.iter().all(|v| v.is_finite()), "{name} {what}s on the GPU: {gpu:?}");
            for (g, c) in gpu.iter().zip(cpu) {
                assert!((g - c).abs() <= 1e-5 * c.abs().max(1.0), "{name} {what}: GPU {g} vs CPU {c}\nGPU {gpu:?}\nCPU {cpu:?}");
            }
        }
    }
}
