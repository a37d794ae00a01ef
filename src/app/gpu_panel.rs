//! The collapsible "GPU" panel: adapter, backend and the limits the device got.

use leptos::prelude::*;

use super::state::{DeviceState, Studio};

/// Adapter name, backend, type and limits (device value next to the adapter's maximum).
#[component]
pub fn GpuPanel() -> impl IntoView {
    let studio = expect_context::<Studio>();
    view! {
        <details class="card gpu" id="gpu-panel">
            <summary>
                "GPU: "
                {move || match studio.device.get() {
                    DeviceState::Gpu(info) => info.summary(),
                    DeviceState::Cpu(_) => "none — running on the CPU (slow)".to_string(),
                    DeviceState::CpuChosen => "not used — training on the CPU, as chosen after the GPU failed (slow)".to_string(),
                    DeviceState::Starting => "starting…".to_string(),
                }}
            </summary>
            {move || match studio.device.get() { DeviceState::Gpu(info) => Some(info), _ => None }.map(|info| view! {
                <dl class="facts">
                    <dt>"Adapter"</dt><dd>{if info.name.is_empty() { "(not disclosed by the browser)".to_string() } else { info.name.clone() }}</dd>
                    <dt>"Backend"</dt><dd id="gpu-backend">{info.backend.clone()}</dd>
                    <dt>"Type"</dt><dd>{info.device_type.clone()}</dd>
                    <dt>"Driver"</dt><dd>{info.driver.clone()}</dd>
                </dl>
                <table class="limits">
                    <thead><tr><th scope="col">"Limit"</th><th scope="col">"Device"</th><th scope="col">"Adapter maximum"</th></tr></thead>
                    <tbody>
                        {info.limits.iter().map(|l| view! {
                            <tr><td>{l.name.clone()}</td><td>{l.device}</td><td>{l.adapter}</td></tr>
                        }).collect::<Vec<_>>()}
                    </tbody>
                </table>
            })}
        </details>
    }
}
