//! AdamW with decoupled weight decay (Loshchilov & Hutter 2019), as `torch.optim.AdamW`,
//! with transformers' rule for what decays, and clipping by the global gradient norm as
//! `torch.nn.utils.clip_grad_norm_`.
//!
//! burn's own AdamW decays every parameter and clips per tensor; fine-tuning recipes
//! decay only weight matrices and clip over all parameters at once, so webtune steps the
//! parameters itself.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};

/// Optimizer settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWSettings {
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε, added to the root of the second moment.
    pub epsilon: f64,
    /// Decoupled decay rate (multiplied by the learning rate).
    pub weight_decay: f64,
}

/// AdamW state: first and second moments per parameter (kept flat), and the step count.
pub struct AdamW {
    settings: AdamWSettings,
    moments: HashMap<ParamId, (Tensor<1>, Tensor<1>)>,
    steps: i32,
}

impl AdamW {
    /// A fresh optimizer.
    pub fn new(settings: AdamWSettings) -> Self {
        Self {
            settings,
            moments: HashMap::new(),
            steps: 0,
        }
    }

    /// Optimizer steps taken.
    pub fn steps(&self) -> i32 {
        self.steps
    }

    /// One update of every parameter that has a gradient, with learning rate `lr`. When
    /// `grad_scale` is given (a one-element tensor), gradients are multiplied by it first.
    ///
    /// Weight decay applies to parameters of rank ≥ 2 (weight matrices, embeddings) and not
    /// to rank-1 ones: in BERT-family models those are exactly the biases and LayerNorm
    /// parameters that transformers' Trainer exempts (`get_decay_parameter_names`).
    pub fn step<M: Module>(&mut self, model: M, grads: GradientsParams, lr: f64, grad_scale: Option<Tensor<1>>) -> M {
        self.steps += 1;
        let mut mapper = Update {
            optimizer: self,
            grads,
            lr,
            grad_scale,
        };
        model.map(&mut mapper)
    }
}

struct Update<'a> {
    optimizer: &'a mut AdamW,
    grads: GradientsParams,
    lr: f64,
    grad_scale: Option<Tensor<1>>,
}

impl ModuleMapper for Update<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let s = self.optimizer.settings;
        let t = self.optimizer.steps;
        let require_grad = tensor.is_require_grad();
        let value = tensor.inner();
        let dims = value.dims();
        let n = dims.iter().product::<usize>();
        let mut g = grad.reshape([n]);
        if let Some(scale) = &self.grad_scale {
            g = g * scale.clone();
        }
        let (m, v) = match self.optimizer.moments.remove(&id) {
            Some(moments) => moments,
            None => (g.zeros_like(), g.zeros_like()),
        };
        let m = m * s.beta1 + g.clone() * (1.0 - s.beta1);
        let v = v * s.beta2 + g.clone() * g * (1.0 - s.beta2);
        let m_hat = m.clone() / (1.0 - s.beta1.powi(t));
        let v_hat = v.clone() / (1.0 - s.beta2.powi(t));
        let mut flat = value.reshape([n]);
        if D >= 2 && s.weight_decay > 0.0 {
            flat = flat * (1.0 - self.lr * s.weight_decay);
        }
        flat = flat - m_hat / (v_hat.sqrt() + s.epsilon) * self.lr;
        self.optimizer.moments.insert(id, (m, v));
        let mut updated = Tensor::from_inner(flat.reshape(dims));
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// The global L2 norm of all gradients of `model`'s parameters, as a one-element tensor
/// on `device` (no readback).
pub fn global_grad_norm<M: Module>(model: &M, grads: &GradientsParams, device: &Device) -> Tensor<1> {
    struct SquaredSums<'a> {
        grads: &'a GradientsParams,
        sums: Vec<Tensor<1>>,
    }
    impl ModuleVisitor for SquaredSums<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let n = g.dims().iter().product::<usize>();
                let flat = g.reshape([n]);
                self.sums.push((flat.clone() * flat).sum());
            }
        }
    }
    let mut visitor = SquaredSums { grads, sums: Vec::new() };
    model.visit(&mut visitor);
    if visitor.sums.is_empty() {
        return Tensor::zeros([1], device);
    }
    Tensor::cat(visitor.sums, 0).sum().sqrt()
}

/// `min(1, max_norm / (norm + 1e-6))`, the factor `clip_grad_norm_` scales gradients by.
pub fn clip_factor(norm: Tensor<1>, max_norm: f64) -> Tensor<1> {
    ((norm + 1e-6).recip() * max_norm).clamp_max(1.0)
}
