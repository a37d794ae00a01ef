//! Intermediate outputs of a forward pass, recorded by name, so that a loss that is not a
//! number can be traced to the first operation whose output was not finite.
//!
//! A forward pass takes a `&mut Trace`; [`Trace::off`] records nothing and costs nothing
//! (what the model runs every step), [`Trace::on`] keeps a handle to each output
//! (the trainer's diagnosis after a non-finite step). Reading the recorded values back is
//! asynchronous and happens after the forward pass, in [`first_non_finite`].

use burn::tensor::Tensor;

/// Named intermediate outputs of one forward pass, in the order they were computed.
#[derive(Default)]
pub struct Trace {
    outputs: Option<Vec<(String, Tensor<1>)>>,
    prefix: String,
}

impl Trace {
    /// Records nothing.
    pub fn off() -> Self {
        Self::default()
    }

    /// Records every named output.
    pub fn on() -> Self {
        Self {
            outputs: Some(Vec::new()),
            prefix: String::new(),
        }
    }

    /// Records `output` under `name` (prefixed by the enclosing module, see [`Trace::enter`])
    /// when on, and hands it back unchanged.
    pub fn record<const D: usize>(&mut self, name: &str, output: Tensor<D>) -> Tensor<D> {
        if let Some(outputs) = &mut self.outputs {
            let n = output.dims().iter().product::<usize>();
            outputs.push((format!("{}{name}", self.prefix), output.clone().reshape([n])));
        }
        output
    }

    /// Names recorded from now on start with `prefix` (`"encoder.layer.3."`), until [`Trace::exit`].
    pub fn enter(&mut self, prefix: String) {
        if self.outputs.is_some() {
            self.prefix = prefix;
        }
    }

    /// Ends the prefix set by [`Trace::enter`].
    pub fn exit(&mut self) {
        self.prefix.clear();
    }

    /// The recorded outputs, in the order they were computed (empty when off).
    pub fn into_outputs(self) -> Vec<(String, Tensor<1>)> {
        self.outputs.unwrap_or_default()
    }
}

/// Where a traced forward pass first produced a value that is not finite.
#[derive(Clone, Debug, PartialEq)]
pub struct NonFiniteOutput {
    /// The output's name (`encoder.layer.2.attention softmax`).
    pub name: String,
    /// How many of its values are NaN.
    pub nans: usize,
    /// How many are +∞ or −∞.
    pub infinities: usize,
    /// Its number of values.
    pub len: usize,
}

impl std::fmt::Display for NonFiniteOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} NaN and {} infinite of {} values)", self.name, self.nans, self.infinities, self.len)
    }
}

/// Reads the traced outputs back one at a time (asynchronously, so it runs in the browser
/// too) and returns the first that holds a NaN or an infinity. The values are checked on
/// the host: a check compiled into a GPU kernel could itself be optimised away by a shader
/// compiler that assumes finite math.
pub async fn first_non_finite(outputs: Vec<(String, Tensor<1>)>) -> Result<Option<NonFiniteOutput>, String> {
    for (name, output) in outputs {
        let values: Vec<f32> = output
            .into_data_async()
            .await
            .map_err(|e| format!("{e:?}"))?
            .convert::<f32>()
            .try_into_vec()
            .map_err(|e| format!("{e:?}"))?;
        let nans = values.iter().filter(|v| v.is_nan()).count();
        let infinities = values.iter().filter(|v| v.is_infinite()).count();
        if nans + infinities > 0 {
            return Ok(Some(NonFiniteOutput {
                name,
                nans,
                infinities,
                len: values.len(),
            }));
        }
    }
    Ok(None)
}
