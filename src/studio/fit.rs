//! Whether a run's memory estimate fits the device, or why not with what to change.

use super::format::megabytes;
use crate::train::MemoryEstimate;

/// What the fit check knows of the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitDevice {
    /// A WebGPU device; its largest buffer (the smaller of `maxStorageBufferBindingSize`
    /// and `maxBufferSize`), when known.
    Gpu {
        /// Bytes.
        max_buffer: Option<u64>,
    },
    /// The CPU backend in wasm32, whose memory stops at 4 GiB.
    WasmCpu,
    /// Not set up yet.
    Unknown,
}

/// Whether `estimate` fits the device, or why not with what to change. A single buffer
/// larger than the GPU allows fails for certain; on the CPU, wasm32 memory tops out at 4 GiB.
/// `vocab_table` is the bytes of the model's token embedding table (see [`vocab_table`]).
pub fn check_fit(estimate: &MemoryEstimate, device: FitDevice, vocab_table: u64, max_length: usize) -> Result<(), String> {
    match device {
        FitDevice::Gpu { max_buffer } => {
            if let Some(limit) = max_buffer
                && estimate.largest_buffer > limit
            {
                let suggestion = if estimate.largest_buffer == vocab_table {
                    "this model's embedding table alone is larger than this GPU allows; pick a smaller model".to_string()
                } else {
                    format!("lower the batch size or the max length (now {max_length} tokens): attention grows with its square")
                };
                return Err(format!(
                    "One buffer would need {} but this GPU allows {} per buffer; {suggestion}.",
                    megabytes(estimate.largest_buffer as f64),
                    megabytes(limit as f64)
                ));
            }
            Ok(())
        }
        FitDevice::WasmCpu if estimate.total > 3 << 30 => Err(format!(
            "Training would need about {} but a browser tab's WebAssembly memory stops at 4 GB; lower the batch size or max length, or use a browser with WebGPU.",
            megabytes(estimate.total as f64)
        )),
        _ => Ok(()),
    }
}

/// The bytes (f32) of a token embedding table of `vocab_size` × `hidden_size`.
pub fn vocab_table(vocab_size: usize, hidden_size: usize) -> u64 {
    4 * (vocab_size * hidden_size) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::ModelConfig;

    fn table(config: &ModelConfig) -> u64 {
        vocab_table(config.dims().vocab_size, config.dims().hidden_size)
    }

    fn minilm() -> ModelConfig {
        ModelConfig::from_json(include_bytes!("../../tests/fixtures/tiny-bert/config.json")).unwrap()
    }

    #[test]
    fn a_buffer_over_the_gpu_limit_is_refused_with_a_suggestion() {
        let config = minilm();
        let estimate = MemoryEstimate::classifier(&config, 2, 32, 64);
        assert_eq!(check_fit(&estimate, FitDevice::Gpu { max_buffer: Some(estimate.largest_buffer) }, table(&config), 64), Ok(()));
        let err = check_fit(&estimate, FitDevice::Gpu { max_buffer: Some(estimate.largest_buffer - 1) }, table(&config), 64).unwrap_err();
        assert!(err.starts_with("One buffer would need"), "{err}");
        assert!(err.contains("now 64 tokens") || err.contains("embedding table"), "{err}");
        assert_eq!(check_fit(&estimate, FitDevice::Gpu { max_buffer: None }, table(&config), 64), Ok(()));
        assert_eq!(check_fit(&estimate, FitDevice::Unknown, table(&config), 64), Ok(()));
    }

    #[test]
    fn the_wasm_cpu_refuses_more_than_three_gigabytes() {
        let config = minilm();
        assert_eq!(check_fit(&MemoryEstimate::classifier(&config, 2, 32, 64), FitDevice::WasmCpu, table(&config), 64), Ok(()));
        let huge = MemoryEstimate::classifier(&config, 2, 100_000, 64);
        let err = check_fit(&huge, FitDevice::WasmCpu, table(&config), 64).unwrap_err();
        assert!(err.contains("WebAssembly memory stops at 4 GB"), "{err}");
    }
}
