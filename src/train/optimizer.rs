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

    /// The first and second moments of every parameter updated so far, flat, by parameter
    /// id (for a checkpoint; no readback).
    pub fn moments(&self) -> impl Iterator<Item = (ParamId, &Tensor<1>, &Tensor<1>)> {
        self.moments.iter().map(|(id, (m, v))| (*id, m, v))
    }

    /// Continues from a checkpoint: `steps` updates done, with these moments.
    pub fn restore(&mut self, steps: i32, moments: HashMap<ParamId, (Tensor<1>, Tensor<1>)>) {
        self.steps = steps;
        self.moments = moments;
    }

    /// One update of every parameter that has a gradient, with learning rate `lr`. When
    /// `grad_scale` is given (a one-element tensor), gradients are multiplied by it first.
    ///
    /// Weight decay applies to parameters of rank ≥ 2 (weight matrices, embeddings) and not
    /// to rank-1 ones: in the encoder families webtune trains those are exactly the biases and LayerNorm
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

/// The squared L2 norm of each parameter's gradient, computed on the device: one tensor
/// `[parameters]` in the model's parameter order, with the parameters' ids. A squared norm
/// that is not finite marks a parameter whose gradient holds a NaN or an infinity.
pub struct GradientNorms {
    /// `[parameters]`, Σ g² of each parameter's gradient (empty when none has one).
    pub squared: Option<Tensor<1>>,
    /// The parameter of each entry of `squared`.
    pub ids: Vec<ParamId>,
}

impl GradientNorms {
    /// The global L2 norm over all parameters, as a one-element tensor on `device`.
    pub fn global(&self, device: &Device) -> Tensor<1> {
        match &self.squared {
            Some(squared) => squared.clone().sum().sqrt(),
            None => Tensor::zeros([1], device),
        }
    }
}

/// The squared gradient norm of each of `model`'s parameters (no readback).
pub fn gradient_norms<M: Module>(model: &M, grads: &GradientsParams) -> GradientNorms {
    struct SquaredSums<'a> {
        grads: &'a GradientsParams,
        sums: Vec<Tensor<1>>,
        ids: Vec<ParamId>,
    }
    impl ModuleVisitor for SquaredSums<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let n = g.dims().iter().product::<usize>();
                let flat = g.reshape([n]);
                self.sums.push((flat.clone() * flat).sum());
                self.ids.push(param.id);
            }
        }
    }
    let mut visitor = SquaredSums { grads, sums: Vec::new(), ids: Vec::new() };
    model.visit(&mut visitor);
    GradientNorms {
        squared: (!visitor.sums.is_empty()).then(|| Tensor::cat(visitor.sums, 0)),
        ids: visitor.ids,
    }
}

/// The global L2 norm of all gradients of `model`'s parameters, as a one-element tensor
/// on `device` (no readback).
pub fn global_grad_norm<M: Module>(model: &M, grads: &GradientsParams, device: &Device) -> Tensor<1> {
    gradient_norms(model, grads).global(device)
}

/// `min(1, max_norm / (norm + 1e-6))`, the factor `clip_grad_norm_` scales gradients by.
pub fn clip_factor(norm: Tensor<1>, max_norm: f64) -> Tensor<1> {
    ((norm + 1e-6).recip() * max_norm).clamp_max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec().unwrap()
    }

    /// One step by hand: with m̂ = g and v̂ = g² after bias correction, the update is
    /// lr · g / (|g| + ε) ≈ lr · sign(g), after decoupled decay p ← p (1 − lr · wd).
    #[test]
    fn one_adamw_step_matches_the_hand_computed_update() {
        let device = Device::flex().autodiff();
        let mut linear: Linear = LinearConfig::new(2, 1).init(&device);
        linear.weight = Param::from_tensor(Tensor::from_floats([[1.0], [-2.0]], &device));
        linear.bias = Some(Param::from_tensor(Tensor::from_floats([0.5], &device)));
        // loss = sum(x · W + b) with x = [3, -4]: dL/dW = [3, -4], dL/db = 1.
        let x = Tensor::<2>::from_floats([[3.0, -4.0]], &device);
        let grads = GradientsParams::from_grads(linear.forward(x).sum().backward(), &linear);
        let (lr, wd, eps) = (0.1, 0.5, 1e-8);
        for decay in [0.0, wd] {
            let mut adamw = AdamW::new(AdamWSettings { beta1: 0.9, beta2: 0.999, epsilon: eps, weight_decay: decay });
            let stepped = adamw.step(linear.clone(), grads.clone_for_test(&linear), lr, None);
            let w = read(stepped.weight.val());
            let b = read(stepped.bias.unwrap().val());
            let step = |p: f64, g: f64| p * (1.0 - lr * decay) - lr * g / (g.abs() + eps);
            assert!((w[0] as f64 - step(1.0, 3.0)).abs() < 1e-6, "{w:?} (decay {decay})");
            assert!((w[1] as f64 - step(-2.0, -4.0)).abs() < 1e-6, "{w:?} (decay {decay})");
            // Biases never decay.
            assert!((b[0] as f64 - (0.5 - lr * 1.0 / (1.0 + eps))).abs() < 1e-6, "{b:?}");
        }
    }

    #[test]
    fn clipping_scales_to_the_max_norm_and_never_up() {
        let device = Device::flex();
        let norm = |v: f32| Tensor::<1>::from_floats([v], &device);
        assert!((read(clip_factor(norm(4.0), 1.0))[0] - 0.25).abs() < 1e-6);
        assert_eq!(read(clip_factor(norm(0.5), 1.0))[0], 1.0);
    }

    #[test]
    fn global_norm_is_over_all_parameters() {
        let device = Device::flex().autodiff();
        let linear: Linear = LinearConfig::new(2, 1).init(&device);
        let x = Tensor::<2>::from_floats([[3.0, -4.0]], &device);
        let grads = GradientsParams::from_grads(linear.forward(x).sum().backward(), &linear);
        // sqrt(3² + 4² + 1²)
        let n = read(global_grad_norm(&linear, &grads, &Device::flex()))[0];
        assert!((n - 26f32.sqrt()).abs() < 1e-5, "{n}");
    }

    trait CloneForTest {
        fn clone_for_test(&self, module: &Linear) -> GradientsParams;
    }

    impl CloneForTest for GradientsParams {
        fn clone_for_test(&self, module: &Linear) -> GradientsParams {
            let mut out = GradientsParams::new();
            out.register::<2>(module.weight.id, self.get::<2>(module.weight.id).unwrap());
            let bias = module.bias.as_ref().unwrap().id;
            out.register::<1>(bias, self.get::<1>(bias).unwrap());
            out
        }
    }
}
