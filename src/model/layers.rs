//! Building blocks loaded from checkpoint tensors by name.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::nn::{Dropout, Embedding, Linear};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::module::layer_norm;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::trace::Trace;
use crate::checkpoint::{EncodedBatch, HiddenAct};

use crate::checkpoint::{WeightError, Weights};

/// LayerNorm with the checkpoint's parameter names (`weight`, `bias`), as `torch.nn.LayerNorm`.
#[derive(Module, Debug)]
pub struct LayerNorm {
    /// Scale, `[d]`.
    pub weight: Param<Tensor<1>>,
    /// Shift, `[d]` (absent in ModernBERT's bias-free norms, `norm_bias: false`).
    pub bias: Option<Param<Tensor<1>>>,
    /// Added to the variance.
    pub eps: f64,
}

impl LayerNorm {
    /// Normalises the last axis: `[..., d]` → `[..., d]`.
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        layer_norm(input, self.weight.val(), self.bias.as_ref().map(|b| b.val()), self.eps)
    }
}

/// `LlamaRMSNorm`: `weight · x / √(mean(x²) + eps)` over the last axis.
#[derive(Module, Debug)]
pub struct RmsNorm {
    /// Scale, `[d]`.
    pub weight: Param<Tensor<1>>,
    /// Added to the mean square.
    pub eps: f64,
}

impl RmsNorm {
    /// `[..., d]` → `[..., d]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let mean_square = (x.clone() * x.clone()).mean_dim(D - 1);
        let normed = x * (mean_square + self.eps).sqrt().recip();
        normed * self.weight.val().unsqueeze::<D>()
    }
}

/// `tanh`, finite for every finite input on every backend.
///
/// SwiftShader (Chromium's software WebGPU, and its Vulkan driver) returns NaN for
/// `tanh(x)` once `|x|` is about 89 or more — the textbook `(e²ˣ − 1)/(e²ˣ + 1)` overflowing
/// to ∞/∞ — and Metal's fast-math `tanh` is known to do the same (cubecl guards it only in
/// native macOS builds, and only for large positive inputs). In f32, `tanh(±10)` already
/// rounds to ±1, so clamping the input to [−10, 10] changes no value; the gradient beyond the
/// clamp, which is at most 8e-9 in exact arithmetic, becomes 0.
pub fn tanh_finite<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clamp(-10.0, 10.0).tanh()
}

/// GELU, exact form: `x · Φ(x) = x · (1 + erf(x / √2)) / 2` (transformers' `"gelu"`,
/// activations.py `GELUActivation`), written out so that autodiff differentiates `erf`
/// exactly. burn's fused `gelu` has a backward built on the tanh approximation's
/// derivative, which is both inexact for this form and NaN on SwiftShader for
/// `|x| ≳ 13` (its inner `tanh` argument passes 89; see [`tanh_finite`]). That made the
/// bundled all-MiniLM-L6-v2, whose feed-forward pre-activations reach such values, fail
/// its first training step in Chromium's WebGPU.
pub fn gelu_exact<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    (x.clone() * ((x / std::f64::consts::SQRT_2).erf() + 1.0)) * 0.5
}

/// GELU, tanh approximation: `x · (1 + tanh(√(2/π) · (x + 0.044715 x³))) / 2`
/// (transformers' `"gelu_new"` and `"gelu_pytorch_tanh"`, activations.py
/// `NewGELUActivation`), with a [`tanh_finite`] and `x³` as products (a float power of a
/// negative base can be NaN).
pub fn gelu_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    const SQRT_2_OVER_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2;
    let cube = x.clone() * x.clone() * x.clone();
    let inner = (x.clone() + cube * 0.044715) * SQRT_2_OVER_PI;
    (x * (tanh_finite(inner) + 1.0)) * 0.5
}

/// The activation of a feed-forward block (`hidden_act`, DistilBERT's `activation`).
#[derive(Module, Debug)]
pub struct Activation {
    /// Which function.
    #[module(skip)]
    pub kind: HiddenAct,
}

impl Activation {
    /// Applies the function element-wise.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self.kind {
            // transformers' "gelu" is the exact erf form (activations.py, GELUActivation).
            HiddenAct::Gelu => gelu_exact(x),
            HiddenAct::GeluNew | HiddenAct::GeluPytorchTanh => gelu_tanh(x),
            HiddenAct::Relu => relu(x),
            HiddenAct::Silu => burn::tensor::activation::silu(x),
        }
    }
}

/// An encoder's inputs for one batch, built once at the model boundary so that ids, types,
/// positions and the mask cannot be swapped. All `[batch, seq]`.
#[derive(Clone, Debug)]
pub struct EncoderInput {
    /// Token ids, padded with the tokenizer's pad id.
    pub input_ids: Tensor<2, Int>,
    /// Segment ids (all 0 for single texts).
    pub token_type_ids: Tensor<2, Int>,
    /// Rows of the position embeddings to add, as the family numbers them.
    pub position_ids: Tensor<2, Int>,
    /// 1 where a token is real, 0 where it is padding.
    pub attention_mask: Tensor<2, Int>,
}

/// How a family numbers positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PositionIds {
    /// `0..seq` for every row (BERT, DistilBERT).
    FromZero,
    /// RoBERTa's `create_position_ids_from_input_ids`: real tokens count up from
    /// `padding_idx + 1`, padding tokens get `padding_idx` (modeling_roberta.py).
    AfterPadding {
        /// `pad_token_id`.
        padding_idx: u32,
    },
}

impl PositionIds {
    /// The position ids of an encoded batch, row-major `[batch, seq]`, computed on the host
    /// (they are data, not a computation to differentiate).
    pub fn of(self, batch: &EncodedBatch) -> Vec<i64> {
        let seq = batch.seq_len;
        match self {
            PositionIds::FromZero => (0..batch.batch_size).flat_map(|_| 0..seq as i64).collect(),
            PositionIds::AfterPadding { padding_idx } => {
                let pad = padding_idx as i64;
                batch
                    .input_ids
                    .chunks(seq.max(1))
                    .flat_map(|row| {
                        let mut count = 0;
                        row.iter()
                            .map(|&id| {
                                if id == pad {
                                    pad
                                } else {
                                    count += 1;
                                    pad + count
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect()
            }
        }
    }
}

impl EncoderInput {
    /// The batch's tensors on `device`, positions numbered by `positions`.
    pub fn new(batch: &EncodedBatch, positions: PositionIds, device: &Device) -> Self {
        let shape = [batch.batch_size, batch.seq_len];
        let int = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, shape), device);
        Self {
            input_ids: int(batch.input_ids.clone()),
            token_type_ids: int(batch.token_type_ids.clone()),
            position_ids: int(positions.of(batch)),
            attention_mask: int(batch.attention_mask.clone()),
        }
    }
}

/// The padding mask as an additive bias, converted once at the model boundary:
/// `[batch, seq]` of 1/0 → `[batch, 1, 1, seq]` of 0 / `f32::MIN`, the value
/// transformers uses (`torch.finfo(dtype).min`, modeling_attn_mask_utils.py).
pub fn attention_bias(attention_mask: Tensor<2, Int>) -> Tensor<4> {
    let [batch, seq] = attention_mask.dims();
    let keep = attention_mask.float().reshape([batch, 1, 1, seq]);
    (keep.neg() + 1.0) * f32::MIN
}

/// Multi-head scaled dot-product attention over projected queries, keys and values, as
/// transformers' eager attention computes it: scores `q·kᵀ/√d` plus the mask bias, softmax,
/// dropout on the probabilities, then the weighted values.
///
/// # Shapes
/// `q`, `k`, `v`: `[batch, seq, hidden]`; `mask_bias`: `[batch, 1, 1, seq]` (see
/// [`attention_bias`]) → `[batch, seq, hidden]`.
pub fn multi_head_attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    mask_bias: Tensor<4>,
    num_heads: usize,
    dropout: &Dropout,
    trace: &mut Trace,
) -> Tensor<3> {
    let [batch, seq, width] = q.dims();
    let head = width / num_heads;
    let split = |x: Tensor<3>| x.reshape([batch, seq, num_heads, head]).swap_dims(1, 2);
    let (q, k, v) = (split(q), split(k), split(v));
    let scores = trace.record("attention scores (q·kᵀ/√d + mask)", q.matmul(k.swap_dims(2, 3)) / (head as f64).sqrt() + mask_bias);
    let probs = trace.record("attention softmax", softmax(scores, 3));
    let context = dropout.forward(probs).matmul(v).swap_dims(1, 2).reshape([batch, seq, width]);
    trace.record("attention context (probs·v)", context)
}

/// A parameter under its transformers name. `transpose` marks Linear weights, which burn
/// keeps as `[d_in, d_out]` and PyTorch as `[d_out, d_in]`.
#[derive(Clone, Debug)]
pub struct NamedTensor {
    /// The checkpoint name (`bert.encoder.layer.0.attention.self.query.weight`).
    pub name: String,
    /// The values on the device: rank 1 or 2, flattened to rank 2 (`[1, n]` for vectors).
    pub tensor: Tensor<2>,
    /// The shape the checkpoint stores.
    pub shape: Vec<usize>,
    /// Whether the stored tensor is the transpose of `tensor`.
    pub transpose: bool,
    /// The parameter's id, which finds its gradient (`GradientsParams::get`).
    pub id: ParamId,
}

/// The one name table of a model: every parameter's checkpoint name, written down by
/// [`TensorLoader`] as it reads (or creates) the parameter, and read back on export and to
/// name a failing gradient. Loading and export therefore cannot disagree on a name:
/// there is no second list. Parameter ids survive training steps and device moves, so
/// the table made at load time names the trained model's parameters too.
#[derive(Clone, Debug, Default)]
pub struct ParamNames {
    by_id: HashMap<ParamId, (String, bool)>,
}

impl ParamNames {
    /// The checkpoint name of parameter `id` (`classifier.weight`), if it has one.
    pub fn name(&self, id: ParamId) -> Option<&str> {
        self.by_id.get(&id).map(|(name, _)| name.as_str())
    }

    /// How many parameters the table names.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the table names no parameter.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every named parameter of `model` with its current values, in the module's order.
    pub fn tensors<M: Module>(&self, model: &M) -> Vec<NamedTensor> {
        let mut visitor = Collect { names: self, out: Vec::new() };
        model.visit(&mut visitor);
        visitor.out
    }

    fn insert(&mut self, id: ParamId, name: String, transpose: bool) {
        self.by_id.insert(id, (name, transpose));
    }
}

struct Collect<'a> {
    names: &'a ParamNames,
    out: Vec<NamedTensor>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some((name, transpose)) = self.names.by_id.get(&param.id) else { return };
        let tensor = param.val();
        let dims = tensor.dims();
        let (tensor, shape) = match dims.as_slice() {
            [n] => (tensor.reshape([1, *n]), vec![*n]),
            [rows, cols] if *transpose => (tensor.reshape([*rows, *cols]), vec![*cols, *rows]),
            [rows, cols] => (tensor.reshape([*rows, *cols]), vec![*rows, *cols]),
            // Every layer here stores vectors and matrices only.
            _ => return,
        };
        self.out.push(NamedTensor { name: name.clone(), tensor, shape, transpose: *transpose, id: param.id });
    }
}

/// Reads named tensors from a checkpoint onto a device, and makes the new layers a task
/// adds, writing every parameter's checkpoint name into the model's [`ParamNames`].
pub(crate) struct TensorLoader<'a> {
    weights: &'a mut Weights,
    device: &'a Device,
    names: ParamNames,
    /// Prepended to the names recorded from here on (not to the names read): the task
    /// prefix (`"bert."`) under which an encoder is exported, or `""`.
    pub scope: String,
}

impl<'a> TensorLoader<'a> {
    /// A loader reading from `weights` onto `device`, with an empty scope.
    pub fn new(weights: &'a mut Weights, device: &'a Device) -> Self {
        Self { weights, device, names: ParamNames::default(), scope: String::new() }
    }

    /// The names of every parameter loaded or created.
    pub fn into_names(self) -> ParamNames {
        self.names
    }

    fn named<const D: usize>(&mut self, name: &str, param: Param<Tensor<D>>, transpose: bool) -> Param<Tensor<D>> {
        self.names.insert(param.id, format!("{}{name}", self.scope), transpose);
        param
    }

    fn tensor<const D: usize>(&mut self, name: &str, shape: [usize; D]) -> Result<Tensor<D>, WeightError> {
        let values = self.weights.take(name, &shape)?;
        Ok(Tensor::from_data(TensorData::new(values, shape), self.device))
    }

    fn vector(&mut self, name: String, dim: usize) -> Result<Param<Tensor<1>>, WeightError> {
        let values = self.tensor(&name, [dim])?;
        Ok(self.named(&name, Param::from_tensor(values), false))
    }

    /// A `torch.nn.Linear` stored as `{name}.weight` `[d_out, d_in]` and `{name}.bias` `[d_out]`.
    /// burn keeps the weight as `[d_in, d_out]`, so it is transposed here, once.
    pub fn linear(&mut self, name: &str, d_in: usize, d_out: usize) -> Result<Linear, WeightError> {
        self.linear_with(name, d_in, d_out, true)
    }

    /// A `torch.nn.Linear` with (`bias` true) or without a `{name}.bias`.
    pub fn linear_with(&mut self, name: &str, d_in: usize, d_out: usize, bias: bool) -> Result<Linear, WeightError> {
        let weight_name = format!("{name}.weight");
        let torch_layout = self.weights.take(&weight_name, &[d_out, d_in])?;
        let mut burn_layout = vec![0.0f32; d_in * d_out];
        for o in 0..d_out {
            for i in 0..d_in {
                burn_layout[i * d_out + o] = torch_layout[o * d_in + i];
            }
        }
        let weight = Tensor::from_data(TensorData::new(burn_layout, [d_in, d_out]), self.device);
        let weight = self.named(&weight_name, Param::from_tensor(weight), true);
        let bias = if bias { Some(self.vector(format!("{name}.bias"), d_out)?) } else { None };
        Ok(Linear { weight, bias })
    }

    /// A new Linear layer `{name}` initialised as transformers' `_init_weights` does for
    /// every family here: weight normal(0, std), bias (when `bias`) 0; the values come from
    /// `rng`, so a seed fixes them.
    pub fn new_linear(&mut self, name: &str, rng: &mut crate::rng::SeededRng, (d_in, d_out): (usize, usize), std: f64, bias: bool) -> Linear {
        let values: Vec<f32> = (0..d_in * d_out).map(|_| (rng.normal() * std) as f32).collect();
        let weight = Param::from_tensor(Tensor::from_data(TensorData::new(values, [d_in, d_out]), self.device));
        let weight = self.named(&format!("{name}.weight"), weight, true);
        let bias = bias.then(|| self.named(&format!("{name}.bias"), Param::from_tensor(Tensor::zeros([d_out], self.device)), false));
        Linear { weight, bias }
    }

    /// GPT-2's `Conv1D`, stored as `{name}.weight` `[d_in, d_out]` (burn's own layout, so
    /// nothing is transposed) and `{name}.bias` `[d_out]`.
    pub fn conv1d(&mut self, name: &str, d_in: usize, d_out: usize) -> Result<Linear, WeightError> {
        let weight_name = format!("{name}.weight");
        let weight = Param::from_tensor(self.tensor(&weight_name, [d_in, d_out])?);
        let weight = self.named(&weight_name, weight, false);
        Ok(Linear { weight, bias: Some(self.vector(format!("{name}.bias"), d_out)?) })
    }

    /// An RMSNorm (`LlamaRMSNorm`) stored as `{name}.weight` `[dim]`.
    pub fn rms_norm(&mut self, name: &str, dim: usize, eps: f64) -> Result<RmsNorm, WeightError> {
        Ok(RmsNorm { weight: self.vector(format!("{name}.weight"), dim)?, eps })
    }

    /// Reads names stored under `prefix` (GPT-2's `transformer.`) without it.
    pub fn strip_stored_prefix(&mut self, prefix: &str) {
        self.weights.strip_prefix(prefix);
    }

    /// A `torch.nn.Embedding` stored as `{name}.weight` `[rows, dim]`.
    pub fn embedding(&mut self, name: &str, rows: usize, dim: usize) -> Result<Embedding, WeightError> {
        let weight_name = format!("{name}.weight");
        let weight = Param::from_tensor(self.tensor(&weight_name, [rows, dim])?);
        Ok(Embedding { weight: self.named(&weight_name, weight, false) })
    }

    /// A `torch.nn.LayerNorm` stored as `{name}.weight` and `{name}.bias`, both `[dim]`.
    pub fn layer_norm(&mut self, name: &str, dim: usize, eps: f64) -> Result<LayerNorm, WeightError> {
        self.layer_norm_with(name, dim, eps, true)
    }

    /// A LayerNorm with (`bias` true) or without a `{name}.bias`.
    pub fn layer_norm_with(&mut self, name: &str, dim: usize, eps: f64, bias: bool) -> Result<LayerNorm, WeightError> {
        Ok(LayerNorm {
            weight: self.vector(format!("{name}.weight"), dim)?,
            bias: if bias { Some(self.vector(format!("{name}.bias"), dim)?) } else { None },
            eps,
        })
    }

    /// A new LayerNorm `{name}` as `torch.nn.LayerNorm` starts: weight 1, bias (when
    /// `bias`) 0.
    pub fn new_layer_norm(&mut self, name: &str, dim: usize, eps: f64, bias: bool) -> LayerNorm {
        let weight = self.named(&format!("{name}.weight"), Param::from_tensor(Tensor::ones([dim], self.device)), false);
        let bias = bias.then(|| self.named(&format!("{name}.bias"), Param::from_tensor(Tensor::zeros([dim], self.device)), false));
        LayerNorm { weight, bias, eps }
    }

    /// A fixed (untrained) `torch.nn.Embedding` of `rows` × `dim`: read when the checkpoint
    /// stores it, else `make(rows, dim)` row-major. Exported either way, as transformers
    /// saves it.
    pub fn frozen_embedding(&mut self, name: &str, rows: usize, dim: usize, make: impl FnOnce() -> Vec<f32>) -> Result<Embedding, WeightError> {
        let weight_name = format!("{name}.weight");
        let values = match self.weights.take_optional(&weight_name, &[rows, dim])? {
            Some(values) => values,
            None => make(),
        };
        let weight = Tensor::from_data(TensorData::new(values, [rows, dim]), self.device);
        let weight = self.named(&weight_name, Param::from_tensor(weight).set_require_grad(false), false);
        Ok(Embedding { weight })
    }

    /// Whether the checkpoint has `{name}.weight`.
    pub fn has(&self, name: &str) -> bool {
        self.weights.contains(&format!("{name}.weight"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs from far left to far right of the GELU's bend.
    const XS: [f32; 13] = [-20.0, -13.0, -5.0, -3.0, -1.5, -0.5, 0.0, 0.5, 1.5, 3.0, 5.0, 13.0, 20.0];

    /// `f(x)` and `df/dx` at [`XS`], on burn's CPU backend with autodiff.
    fn values_and_gradients(f: fn(Tensor<1>) -> Tensor<1>) -> (Vec<f32>, Vec<f32>) {
        let device = crate::platform::cpu_device().autodiff();
        let x = Tensor::<1>::from_floats(XS, &device).require_grad();
        let y = f(x.clone());
        let grads = y.clone().sum().backward();
        let dx = x.grad(&grads).unwrap();
        (y.inner().into_data().try_into_vec().unwrap(), dx.into_data().try_into_vec().unwrap())
    }

    /// d/dx x·Φ(x) = Φ(x) + x·φ(x), from Python's `math.erf` (f64), as PyTorch's exact GELU
    /// backward computes it. burn's own gelu backward differs by up to 8.7e-4 on [−6, 6].
    #[test]
    fn exact_gelu_has_the_exact_derivative() {
        let want = [0.0, 0.0, -7.147e-6, -0.011945647, -0.127469192, 0.132504875, 0.5, 0.867495125, 1.127469192, 1.011945647, 1.000007147, 1.0, 1.0];
        let (y, dy) = values_and_gradients(gelu_exact);
        for ((x, got), want) in XS.iter().zip(&dy).zip(want) {
            assert!((got - want).abs() < 2e-6, "gelu'({x}) = {got}, want {want}");
        }
        assert_eq!((y[0], y[12]), (0.0, 20.0), "gelu(−20) and gelu(20)");
    }

    /// The tanh form's derivative, 0.5(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)
    /// with t = tanh(√(2/π)(x + 0.044715x³)), from Python (f64).
    #[test]
    fn tanh_gelu_has_its_derivative_and_stays_finite() {
        let want = [0.0, 0.0, -1.546e-6, -0.011584167, -0.127710793, 0.132630096, 0.5, 0.867369904, 1.127710793, 1.011584167, 1.000001546, 1.0, 1.0];
        let (y, dy) = values_and_gradients(gelu_tanh);
        for ((x, got), want) in XS.iter().zip(&dy).zip(want) {
            assert!((got - want).abs() < 2e-6, "gelu_tanh'({x}) = {got}, want {want}");
        }
        assert_eq!((y[0], y[12]), (0.0, 20.0));
    }

    #[test]
    fn finite_tanh_equals_tanh_in_f32() {
        let (y, dy) = values_and_gradients(tanh_finite);
        for ((x, got), slope) in XS.iter().zip(&y).zip(&dy) {
            assert_eq!(*got, x.tanh(), "tanh({x})");
            let want = 1.0 - x.tanh() * x.tanh();
            assert!((slope - want).abs() < 1e-6, "tanh'({x}) = {slope}, want {want}");
        }
    }
}
