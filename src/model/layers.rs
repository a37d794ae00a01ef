//! Building blocks loaded from checkpoint tensors by name.

use burn::module::{Module, Param};
use burn::nn::{Embedding, Linear};
use burn::tensor::module::layer_norm;
use burn::tensor::{Device, Tensor, TensorData};

use crate::checkpoint::{WeightError, Weights};

/// LayerNorm with the checkpoint's parameter names (`weight`, `bias`), as `torch.nn.LayerNorm`.
#[derive(Module, Debug)]
pub struct LayerNorm {
    /// Scale, `[d]`.
    pub weight: Param<Tensor<1>>,
    /// Shift, `[d]`.
    pub bias: Param<Tensor<1>>,
    /// Added to the variance.
    pub eps: f64,
}

impl LayerNorm {
    /// Normalises the last axis: `[..., d]` → `[..., d]`.
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        layer_norm(input, self.weight.val(), Some(self.bias.val()), self.eps)
    }
}

/// Reads named tensors from a checkpoint onto a device.
pub(crate) struct TensorLoader<'a> {
    pub weights: &'a mut Weights,
    pub device: &'a Device,
}

impl TensorLoader<'_> {
    fn tensor<const D: usize>(&mut self, name: &str, shape: [usize; D]) -> Result<Tensor<D>, WeightError> {
        let values = self.weights.take(name, &shape)?;
        Ok(Tensor::from_data(TensorData::new(values, shape), self.device))
    }

    /// A `torch.nn.Linear` stored as `{name}.weight` `[d_out, d_in]` and `{name}.bias` `[d_out]`.
    /// burn keeps the weight as `[d_in, d_out]`, so it is transposed here, once.
    pub fn linear(&mut self, name: &str, d_in: usize, d_out: usize) -> Result<Linear, WeightError> {
        let torch_layout = self.weights.take(&format!("{name}.weight"), &[d_out, d_in])?;
        let mut burn_layout = vec![0.0f32; d_in * d_out];
        for o in 0..d_out {
            for i in 0..d_in {
                burn_layout[i * d_out + o] = torch_layout[o * d_in + i];
            }
        }
        let weight = Tensor::from_data(TensorData::new(burn_layout, [d_in, d_out]), self.device);
        let bias = self.tensor(&format!("{name}.bias"), [d_out])?;
        Ok(Linear {
            weight: Param::from_tensor(weight),
            bias: Some(Param::from_tensor(bias)),
        })
    }

    /// A `torch.nn.Embedding` stored as `{name}.weight` `[rows, dim]`.
    pub fn embedding(&mut self, name: &str, rows: usize, dim: usize) -> Result<Embedding, WeightError> {
        Ok(Embedding {
            weight: Param::from_tensor(self.tensor(&format!("{name}.weight"), [rows, dim])?),
        })
    }

    /// A `torch.nn.LayerNorm` stored as `{name}.weight` and `{name}.bias`, both `[dim]`.
    pub fn layer_norm(&mut self, name: &str, dim: usize, eps: f64) -> Result<LayerNorm, WeightError> {
        Ok(LayerNorm {
            weight: Param::from_tensor(self.tensor(&format!("{name}.weight"), [dim])?),
            bias: Param::from_tensor(self.tensor(&format!("{name}.bias"), [dim])?),
            eps,
        })
    }

    /// Whether the checkpoint has `{name}.weight`.
    pub fn has(&self, name: &str) -> bool {
        self.weights.contains(&format!("{name}.weight"))
    }
}
