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
use burn::tensor::{Bool, Device, Tensor};

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

/// Every gradient of a model's parameters in a few flat tensors ("buckets" of consecutive
/// parameters, in the model's parameter order): the optimizer update and the gradient norm
/// are then a few kernels per bucket instead of a few per parameter (issue 13: on the GPU
/// each tensor operation is its own dispatch, and all-MiniLM-L6-v2 has 105 parameter
/// tensors). Buckets hold at most [`BUCKET_VALUES`] values (unless one parameter alone is
/// larger), so the update's temporaries stay a few hundred MB for any model.
pub struct FlatGradients {
    buckets: Vec<Bucket>,
}

/// Values per bucket: 32 Mi floats, 128 MiB (all-MiniLM-L6-v2's 22.7 M parameters are one
/// bucket; SmolLM2-135M's are five).
pub const BUCKET_VALUES: usize = 32 << 20;

/// One flat tensor of consecutive parameters' values, and where each sits in it.
#[derive(Clone)]
struct Bucket {
    flat: Tensor<1>,
    slots: Vec<Slot>,
}

/// Where one parameter's values sit in its bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    id: ParamId,
    offset: usize,
    len: usize,
}

impl Slot {
    fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// Concatenates flat parts into buckets of at most [`BUCKET_VALUES`] (`parts` in order,
/// each with its parameter).
fn into_buckets(parts: Vec<(ParamId, Tensor<1>)>, limit: usize) -> Vec<Bucket> {
    let mut buckets = Vec::new();
    let mut tensors: Vec<Tensor<1>> = Vec::new();
    let mut slots: Vec<Slot> = Vec::new();
    let mut offset = 0;
    let mut close = |tensors: &mut Vec<Tensor<1>>, slots: &mut Vec<Slot>| {
        if tensors.is_empty() {
            return;
        }
        let flat = if tensors.len() == 1 { tensors.pop().unwrap() } else { Tensor::cat(std::mem::take(tensors), 0) };
        buckets.push(Bucket { flat, slots: std::mem::take(slots) });
    };
    for (id, part) in parts {
        let len = part.dims()[0];
        if offset > 0 && offset + len > limit {
            close(&mut tensors, &mut slots);
            offset = 0;
        }
        slots.push(Slot { id, offset, len });
        tensors.push(part);
        offset += len;
    }
    close(&mut tensors, &mut slots);
    buckets
}

impl FlatGradients {
    /// Takes the gradients of `model`'s parameters out of `grads` (parameters without one
    /// are left out) and concatenates them flat.
    pub fn gather<M: Module>(model: &M, grads: GradientsParams) -> Self {
        Self::gather_in_buckets(model, grads, BUCKET_VALUES)
    }

    /// [`FlatGradients::gather`] with buckets of at most `limit` values.
    fn gather_in_buckets<M: Module>(model: &M, mut grads: GradientsParams, limit: usize) -> Self {
        struct Gather<'a> {
            grads: &'a mut GradientsParams,
            parts: Vec<(ParamId, Tensor<1>)>,
        }
        impl ModuleVisitor for Gather<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if let Some(g) = self.grads.remove::<D>(param.id) {
                    let len = g.dims().iter().product::<usize>();
                    self.parts.push((param.id, g.reshape([len])));
                }
            }
        }
        let mut gather = Gather { grads: &mut grads, parts: Vec::new() };
        model.visit(&mut gather);
        Self { buckets: into_buckets(gather.parts, limit) }
    }

    /// The gradients' norms (no readback).
    pub fn norms(&self) -> GradientNorms {
        let total = self.buckets.iter().map(|b| (b.flat.clone() * b.flat.clone()).sum()).reduce(|a, b| a + b);
        GradientNorms { total, buckets: self.buckets.clone() }
    }
}

/// AdamW state: the first and second moments of every parameter stepped, flat in the
/// layout of the last step's gradients, and the step count.
pub struct AdamW {
    settings: AdamWSettings,
    /// Per bucket of the last step: (its layout, m, v).
    flat: Vec<(Vec<Slot>, Tensor<1>, Tensor<1>)>,
    /// Moments by parameter not laid out flat (restored from a checkpoint, or of a
    /// parameter that had no gradient in the last step).
    loose: HashMap<ParamId, (Tensor<1>, Tensor<1>)>,
    steps: i32,
}

impl AdamW {
    /// A fresh optimizer.
    pub fn new(settings: AdamWSettings) -> Self {
        Self {
            settings,
            flat: Vec::new(),
            loose: HashMap::new(),
            steps: 0,
        }
    }

    /// Optimizer steps taken.
    pub fn steps(&self) -> i32 {
        self.steps
    }

    /// The first and second moments of every parameter updated so far, flat, by parameter
    /// id (for a checkpoint; slices of the device tensors, no readback).
    pub fn moments(&self) -> Vec<(ParamId, Tensor<1>, Tensor<1>)> {
        let mut out: Vec<(ParamId, Tensor<1>, Tensor<1>)> = self.loose.iter().map(|(id, (m, v))| (*id, m.clone(), v.clone())).collect();
        for (slots, m, v) in &self.flat {
            for slot in slots {
                out.push((slot.id, m.clone().slice([slot.range()]), v.clone().slice([slot.range()])));
            }
        }
        out
    }

    /// Continues from a checkpoint: `steps` updates done, with these moments.
    pub fn restore(&mut self, steps: i32, moments: HashMap<ParamId, (Tensor<1>, Tensor<1>)>) {
        self.steps = steps;
        self.flat.clear();
        self.loose = moments;
    }

    /// One update of every parameter that has a gradient, with learning rate `lr`. When
    /// `grad_scale` is given (a one-element tensor), gradients are multiplied by it first.
    pub fn step<M: Module>(&mut self, model: M, grads: GradientsParams, lr: f64, grad_scale: Option<Tensor<1>>) -> M {
        let flat = FlatGradients::gather(&model, grads);
        self.step_flat(model, flat, lr, grad_scale, None)
    }

    /// Takes back the count of the last `steps` updates, after they were skipped by their
    /// guard (see [`AdamW::step_flat`]): the weights and moments are those before them.
    pub fn forget_steps(&mut self, steps: i32) {
        self.steps = (self.steps - steps).max(0);
    }

    /// [`AdamW::step`] with the gradients already gathered.
    ///
    /// Weight decay applies to parameters of rank ≥ 2 (weight matrices, embeddings) and not
    /// to rank-1 ones: in the encoder families webtune trains those are exactly the biases and LayerNorm
    /// parameters that transformers' Trainer exempts (`get_decay_parameter_names`).
    ///
    /// Elementwise the update is the one `torch.optim.AdamW` makes, operation for
    /// operation; only its layout is flat (one kernel per operation and bucket).
    ///
    /// `guard`, a one-element boolean tensor on the device, decides on the device whether
    /// the update happens: where it is false the weights and moments stay exactly as they
    /// were (a step whose loss or gradients were not finite changes nothing), so the caller
    /// need not read the loss back before recording the update. Where it is true the result
    /// is bit for bit the unguarded one. The step count advances either way; a caller that
    /// learns later that a step was skipped takes it back with [`AdamW::forget_steps`].
    pub fn step_flat<M: Module>(&mut self, model: M, grads: FlatGradients, lr: f64, grad_scale: Option<Tensor<1>>, guard: Option<&Tensor<1, Bool>>) -> M {
        if grads.buckets.is_empty() {
            return model;
        }
        self.steps += 1;
        let s = self.settings;
        let t = self.steps;
        let layout: Vec<Vec<Slot>> = grads.buckets.iter().map(|b| b.slots.clone()).collect();
        let moments = self.moments_for(&layout, &grads.buckets);
        let mut updates = Vec::new();
        let mut slots = HashMap::new();
        for (i, (bucket, (m, v))) in grads.buckets.into_iter().zip(moments).enumerate() {
            let mut g = bucket.flat;
            if let Some(scale) = &grad_scale {
                g = g * scale.clone();
            }
            let kept = guard.map(|_| (m.clone(), v.clone()));
            let m_new = m * s.beta1 + g.clone() * (1.0 - s.beta1);
            let v_new = v * s.beta2 + g.clone() * g * (1.0 - s.beta2);
            let m_hat = m_new.clone() / (1.0 - s.beta1.powi(t));
            let v_hat = v_new.clone() / (1.0 - s.beta2.powi(t));
            let update = m_hat / (v_hat.sqrt() + s.epsilon) * lr;
            let (update, m, v) = match (guard, kept) {
                (Some(ok), Some((m_old, v_old))) => {
                    // The same values where the guard holds; the old moments and no update
                    // where it does not (`mask_where` picks, so a NaN is never multiplied in).
                    let ok = ok.clone().expand([update.dims()[0]]);
                    (update.mask_fill(ok.clone().bool_not(), 0.0), m_old.mask_where(ok.clone(), m_new), v_old.mask_where(ok, v_new))
                }
                _ => (update, m_new, v_new),
            };
            updates.push(update);
            for slot in &bucket.slots {
                slots.insert(slot.id, (i, *slot));
            }
            self.flat.push((bucket.slots, m, v));
        }
        let decay = (s.weight_decay > 0.0).then(|| {
            let factor = 1.0 - lr * s.weight_decay;
            match guard {
                // A skipped step does not decay either: the factor is 1 there.
                Some(ok) => Decay::Guarded(Tensor::<1>::full([1], factor, &ok.device()).mask_fill(ok.clone().bool_not(), 1.0)),
                None => Decay::Always(factor),
            }
        });
        model.map(&mut Update { updates, slots, decay })
    }

    /// The moments laid out as `layout` (one list of slots per bucket): the last step's
    /// when the layout is the same (every step of a run), else gathered per parameter,
    /// zeros for a parameter never stepped. Leaves `self.flat` empty.
    fn moments_for(&mut self, layout: &[Vec<Slot>], buckets: &[Bucket]) -> Vec<(Tensor<1>, Tensor<1>)> {
        let flat = std::mem::take(&mut self.flat);
        if !flat.is_empty() && flat.len() == layout.len() && flat.iter().zip(layout).all(|((slots, _, _), l)| slots == l) {
            return flat.into_iter().map(|(_, m, v)| (m, v)).collect();
        }
        for (slots, m, v) in flat {
            for slot in slots {
                self.loose.insert(slot.id, (m.clone().slice([slot.range()]), v.clone().slice([slot.range()])));
            }
        }
        layout
            .iter()
            .zip(buckets)
            .map(|(slots, bucket)| {
                if slots.iter().all(|slot| !self.loose.contains_key(&slot.id)) {
                    return (bucket.flat.zeros_like(), bucket.flat.zeros_like());
                }
                let device = bucket.flat.device();
                let (ms, vs): (Vec<_>, Vec<_>) = slots
                    .iter()
                    .map(|slot| self.loose.remove(&slot.id).unwrap_or_else(|| (Tensor::zeros([slot.len], &device), Tensor::zeros([slot.len], &device))))
                    .unzip();
                (Tensor::cat(ms, 0), Tensor::cat(vs, 0))
            })
            .collect()
    }
}

struct Update {
    /// Per bucket, lr · m̂ / (√v̂ + ε).
    updates: Vec<Tensor<1>>,
    /// Each parameter's bucket and slot.
    slots: HashMap<ParamId, (usize, Slot)>,
    /// 1 − lr · weight decay, for parameters of rank ≥ 2.
    decay: Option<Decay>,
}

/// The decay factor: a number, or a one-element tensor that is 1 where the step's guard
/// said to skip it (the same f32 value otherwise, so the product is the same).
enum Decay {
    Always(f64),
    Guarded(Tensor<1>),
}

impl ModuleMapper for Update {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some((bucket, slot)) = self.slots.get(&id).copied() else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let value = tensor.inner();
        let dims = value.dims();
        let mut flat = value.reshape([slot.len]);
        match self.decay.as_ref().filter(|_| D >= 2) {
            Some(Decay::Always(factor)) => flat = flat * *factor,
            Some(Decay::Guarded(factor)) => flat = flat * factor.clone(),
            None => {}
        }
        flat = flat - self.updates[bucket].clone().slice([slot.range()]);
        let mut updated = Tensor::from_inner(flat.reshape(dims));
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// The norm of a step's gradients, computed on the device from their flat layout.
pub struct GradientNorms {
    /// Σ g² over every gradient (None when no parameter has one).
    total: Option<Tensor<1>>,
    buckets: Vec<Bucket>,
}

impl GradientNorms {
    /// The global L2 norm over all parameters, as a one-element tensor on `device`.
    pub fn global(&self, device: &Device) -> Tensor<1> {
        match &self.total {
            Some(total) => total.clone().sqrt(),
            None => Tensor::zeros([1], device),
        }
    }

    /// Σ g² of each parameter's gradient, `[parameters]` in the model's parameter order,
    /// with the parameters' ids: a squared norm that is not finite marks a parameter whose
    /// gradient holds a NaN or an infinity. A kernel or two per parameter: for diagnosing
    /// a failed step, not for every step.
    pub fn per_parameter(&self) -> (Option<Tensor<1>>, Vec<ParamId>) {
        let mut sums = Vec::new();
        let mut ids = Vec::new();
        for bucket in &self.buckets {
            for slot in &bucket.slots {
                let g = bucket.flat.clone().slice([slot.range()]);
                sums.push((g.clone() * g).sum());
                ids.push(slot.id);
            }
        }
        ((!sums.is_empty()).then(|| Tensor::cat(sums, 0)), ids)
    }
}

/// The norms of `model`'s gradients in `grads` (no readback).
pub fn gradient_norms<M: Module>(model: &M, grads: &GradientsParams) -> GradientNorms {
    struct Collect<'a> {
        from: &'a GradientsParams,
        to: GradientsParams,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.from.get::<D>(param.id) {
                self.to.register::<D>(param.id, g);
            }
        }
    }
    let mut collect = Collect { from: grads, to: GradientsParams::new() };
    model.visit(&mut collect);
    FlatGradients::gather(model, collect.to).norms()
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

    /// Every parameter's moments (id, m, v), read back, in the order of their ids.
    fn sorted_moments(adamw: &AdamW) -> Vec<(String, Vec<f32>, Vec<f32>)> {
        let mut out: Vec<(String, Vec<f32>, Vec<f32>)> = adamw.moments().into_iter().map(|(id, m, v)| (id.to_string(), read(m), read(v))).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The flat update is the per-parameter one whatever the bucket layout: three
    /// parameters in one bucket, or each in its own (a bucket limit of one value), give
    /// the same weights over two steps, bit for bit, and the same moments.
    #[test]
    fn bucketed_updates_equal_one_bucket() {
        let device = Device::flex().autodiff();
        let linear: Linear = LinearConfig::new(3, 2).init(&device);
        let x = Tensor::<2>::from_floats([[3.0, -4.0, 0.5]], &device);
        let settings = AdamWSettings { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay: 0.1 };
        let run = |limit: usize| {
            let mut adamw = AdamW::new(settings);
            let mut model = linear.clone();
            for _ in 0..2 {
                let grads = GradientsParams::from_grads(model.forward(x.clone()).powf_scalar(2.0).sum().backward(), &model);
                let flat = FlatGradients::gather_in_buckets(&model, grads, limit);
                assert_eq!(flat.buckets.len(), if limit == 1 { 2 } else { 1 });
                model = adamw.step_flat(model, flat, 0.01, None, None);
            }
            (read(model.weight.val()), read(model.bias.unwrap().val()), sorted_moments(&adamw))
        };
        let (one, each) = (run(usize::MAX), run(1));
        assert_eq!(one, each);
        assert_eq!(one.2.len(), 2, "moments of the weight and the bias");
    }

    /// A guarded step is the step where its guard holds, bit for bit, and nothing where it
    /// does not, even with gradients that are all NaN: weights, moments and (once
    /// forgotten) the step count stay as they were, so the next step is a first step.
    #[test]
    fn a_guarded_step_is_the_step_or_nothing() {
        let device = Device::flex().autodiff();
        let linear: Linear = LinearConfig::new(3, 2).init(&device);
        let x = Tensor::<2>::from_floats([[3.0, -4.0, 0.5]], &device);
        let settings = AdamWSettings { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay: 0.1 };
        let flat = |scale: f32| {
            let loss = linear.forward(x.clone()).powf_scalar(2.0).sum() * scale;
            FlatGradients::gather(&linear, GradientsParams::from_grads(loss.backward(), &linear))
        };
        let guard = |ok: bool| Tensor::<1, Bool>::from_data(burn::tensor::TensorData::from([ok]), &Device::flex());
        let weights = |m: &Linear| (read(m.weight.val()), read(m.bias.clone().unwrap().val()));
        let moments = sorted_moments;
        let mut plain = AdamW::new(settings);
        let stepped = plain.step_flat(linear.clone(), flat(1.0), 0.01, None, None);
        let mut guarded = AdamW::new(settings);
        let held = guarded.step_flat(linear.clone(), flat(1.0), 0.01, None, Some(&guard(true)));
        assert_eq!(weights(&held), weights(&stepped));
        assert_eq!(moments(&guarded), moments(&plain));
        assert_ne!(weights(&stepped), weights(&linear), "the step moves the weights");

        let mut skipped = AdamW::new(settings);
        let poisoned = flat(f32::NAN);
        assert!(read(poisoned.norms().global(&Device::flex()))[0].is_nan());
        let kept = skipped.step_flat(linear.clone(), poisoned, 0.01, None, Some(&guard(false)));
        assert_eq!(weights(&kept), weights(&linear), "no update and no decay");
        assert!(moments(&skipped).iter().all(|(_, m, v)| m.iter().chain(v).all(|x| *x == 0.0)), "the moments stay zero");
        skipped.forget_steps(1);
        assert_eq!(skipped.steps(), 0);
        let after = skipped.step_flat(kept, flat(1.0), 0.01, None, Some(&guard(true)));
        assert_eq!(weights(&after), weights(&stepped), "the next step is the first");
        assert_eq!(moments(&skipped), moments(&plain));
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
