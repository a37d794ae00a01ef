//! Step 4: training, live. Phases (with the kernel-compiling first step named as such),
//! progress, throughput and time left, charts of loss, validation metrics and learning
//! rate, and Pause / Resume / Stop.

use leptos::prelude::*;

use super::components::chart::{LineChart, Series};
use super::state::{Control, RunPhase, RunView, Step, Studio};
use super::{NextButton, StepSection, duration};

/// The training step.
#[component]
pub fn TrainStep() -> impl IntoView {
    let studio = expect_context::<Studio>();
    let run = studio.run;
    // Every part is read (no short-circuit), so the closure subscribes to all of them.
    let ready = move || {
        let settings = studio.settings.with(|s| s.parse().is_ok());
        let data = studio.data.with(Option::is_some) & studio.data_error.with(Option::is_none);
        let model = matches!(studio.model.get(), super::state::ModelState::Ready(_));
        settings & data & model
    };
    // A clock for the compiling phase, so a long first step visibly moves.
    let now = RwSignal::new(0.0f64);
    let clock = js_sys::Date::now;
    let _ = set_interval_with_handle(move || {
        if matches!(run.get_untracked().phase, RunPhase::Compiling) {
            now.set(clock());
        }
    }, std::time::Duration::from_millis(500));
    let status = move || match run.with(|r| r.phase.clone()) {
        // A saved run on screen, not yet resumed (its model loading, or its data asked for).
        RunPhase::Idle if run.with(|r| r.step > 0) => {
            run.with(|r| format!("Saved at step {} of {}: it trains on from there once its model and data are ready.", r.step, r.total_steps))
        }
        RunPhase::Idle => "Not started.".to_string(),
        RunPhase::Preparing(what) => what,
        RunPhase::Compiling => format!(
            "Compiling and tuning GPU kernels for the first step ({:.0} s so far) — this happens once per run, then steps are fast…",
            run.with(|r| r.compiling_since).map_or(0.0, |since| (now.get() - since).max(0.0) / 1000.0)
        ),
        RunPhase::Training => "Training…".into(),
        RunPhase::Paused => "Paused.".into(),
        RunPhase::Evaluating => "Evaluating on the validation set…".into(),
        RunPhase::Finished(why) => format!("Finished. {why}"),
        RunPhase::Failed(why) => why,
    };
    let status_class = move || match run.with(|r| r.phase.clone()) {
        RunPhase::Failed(_) => "status error",
        RunPhase::Finished(_) => "status ready",
        _ => "status busy",
    };
    // The charts read the appended log in place, when its row count changes.
    let log = move |read: fn(&[crate::train::LogRow]) -> Vec<Series>| {
        studio.log_rows.track();
        studio.log.with_value(|rows| read(rows))
    };
    let loss_series = Signal::derive(move || {
        log(|rows| {
            let mut series = vec![Series { name: "training loss".into(), class: "s1", points: rows.iter().map(|l| (l.step as f64, l.loss)).collect() }];
            let valid: Vec<(f64, f64)> = rows.iter().filter_map(|l| l.eval.map(|e| (l.step as f64, e.loss()))).collect();
            if !valid.is_empty() {
                series.push(Series { name: "validation loss".into(), class: "s2", points: valid });
            }
            series
        })
    });
    let metric_series = Signal::derive(move || {
        log(|rows| {
            // One series per measure the task's evaluations have (accuracy and macro F1; perplexity).
            let names: Vec<&'static str> = rows.iter().find_map(|l| l.eval).map(|e| e.metrics().into_iter().map(|(n, _)| n).collect()).unwrap_or_else(|| vec!["accuracy", "macro F1"]);
            names
                .iter()
                .enumerate()
                .map(|(i, name)| Series {
                    name: (*name).into(),
                    class: ["s3", "s4"][i % 2],
                    points: rows.iter().filter_map(|l| l.eval.map(|e| (l.step as f64, e.metrics()[i].1))).collect(),
                })
                .collect()
        })
    });
    let answer_series = Signal::derive(move || {
        studio.answer_scores.with(|scores| {
            let points = |f: fn(&crate::train::GenerationScores) -> f64| -> Vec<(f64, f64)> { scores.iter().map(|(step, s)| (*step as f64, f(s))).collect() };
            vec![
                Series { name: "ROUGE-L F1".into(), class: "s3", points: points(|s| s.rouge_l) },
                Series { name: "exact match".into(), class: "s4", points: points(|s| s.exact_match) },
                Series { name: "BLEU / 100".into(), class: "s1", points: points(|s| s.bleu / 100.0) },
            ]
        })
    });
    let lr_series = Signal::derive(move || log(|rows| vec![Series { name: "learning rate".into(), class: "s5", points: rows.iter().map(|l| (l.step as f64, l.learning_rate)).collect() }]));
    view! {
        <StepSection step=Step::Train>
            <div class="controls">
                <button type="button" id="start-training" disabled=move || !ready() | studio.training() on:click=move |_| {
                    // At once, not when the worker first reports: the last run's "Finished." goes.
                    run.set(RunView { phase: RunPhase::Preparing("Starting…".into()), ..RunView::default() });
                    super::bridge::send(super::bridge::Command::Start);
                }>
                    {move || if matches!(run.with(|r| r.phase.clone()), RunPhase::Finished(_) | RunPhase::Failed(_)) { "Train again" } else { "Start training" }}
                </button>
                <button type="button" id="pause-training" class="secondary"
                    disabled=move || !studio.training() || studio.control.get() == Control::Stop
                    on:click=move |_| studio.control.update(|c| *c = if *c == Control::Pause { Control::Run } else { Control::Pause })>
                    {move || if studio.control.get() == Control::Pause { "Resume" } else { "Pause" }}
                </button>
                <button type="button" id="stop-training" class="secondary danger" disabled=move || !studio.training()
                    on:click=move |_| studio.control.set(Control::Stop)>"Stop (keep the best model)"</button>
            </div>
            {move || (!ready()).then(|| view! { <p class="hint">"Pick a model, load usable data and check the settings first."</p> })}
            <p class=status_class id="train-status" role="status" aria-live="polite" data-phase=move || format!("{:?}", run.with(|r| r.phase.clone())).split('(').next().unwrap_or("").to_string()>{status}</p>
            {move || (run.with(|r| r.offer_cpu) && matches!(run.with(|r| r.phase.clone()), RunPhase::Failed(_)) && !studio.training()).then(|| view! {
                <div class="controls">
                    <button type="button" id="train-on-cpu" on:click=move |_| super::bridge::send(super::bridge::Command::TrainOnCpu)>"Train on the CPU in this tab instead"</button>
                </div>
            })}
            // A run that failed (a lost GPU, a device error) with a checkpoint in the browser:
            // go on from it, beside Start, rather than from the base model.
            {move || {
                let failed = matches!(run.with(|r| r.phase.clone()), RunPhase::Failed(_)) && !studio.training();
                let saved = studio.runs.with(|runs| runs.iter().filter(|r| r.checkpoint.is_some()).max_by_key(|r| r.saved_at_ms).cloned());
                failed.then_some(saved).flatten().map(|saved| {
                    let label = format!("Resume from its checkpoint (step {} of {})", saved.step, saved.total_steps);
                    view! {
                        <div class="controls">
                            <button type="button" id="resume-last" on:click=move |_| super::bridge::send(super::bridge::Command::Resume(saved.clone()))>{label}</button>
                        </div>
                    }
                })
            }}
            // Always there, its line reserved, so a checkpoint being saved moves nothing.
            <p id="train-saved" aria-live="polite" class=move || if matches!(studio.saved.get(), Some(Err(_))) { "saved status error" } else { "saved small" }>
                {move || match studio.saved.get() {
                    Some(Ok(step)) => format!("Saved in this browser at step {step}: a reload, a crash or a lost GPU resumes from here."),
                    Some(Err(e)) => e,
                    None => String::new(),
                }}
            </p>
            {move || run.with(|r| (!r.notes.is_empty()).then(|| r.notes.clone())).map(|notes| view! {
                <ul class="notes" id="train-notes">{notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}</ul>
            })}
            <div class="progress-line">
                <progress id="train-progress" max=move || run.with(|r| r.total_steps).max(1) value=move || run.with(|r| r.step)></progress>
                <dl class="stats" id="train-stats">
                    <dt>"Step"</dt><dd id="train-step">{move || format!("{} / {}", run.with(|r| r.step), run.with(|r| r.total_steps))}</dd>
                    <dt>"Epoch"</dt><dd>{move || format!("{} / {}", run.with(|r| r.epoch), run.with(|r| r.epochs))}</dd>
                    <dt>"Speed"</dt><dd>{move || format!("{:.1} examples/s", run.with(|r| r.samples_per_second))}</dd>
                    <dt>"Elapsed"</dt><dd>{move || duration(run.with(|r| r.elapsed))}</dd>
                    <dt>"Time left"</dt><dd>{move || run.with(|r| r.eta).map(duration).unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Per epoch"</dt><dd id="epoch-time">{move || run.with(|r| r.epoch_seconds).map(duration).unwrap_or_else(|| "measured after the first steps".into())}</dd>
                    <dt>"First step"</dt><dd id="compile-seconds">{move || run.with(|r| r.compile_seconds).map(|s| format!("{s:.1} s (kernel compilation)")).unwrap_or_else(|| "—".into())}</dd>
                </dl>
            </div>
            <div class="charts">
                <LineChart title="Loss" x_label="step" series=loss_series id="chart-loss"/>
                {move || if studio.generative() {
                    view! { <LineChart title="Validation perplexity" x_label="step" series=metric_series id="chart-metrics"/> }.into_any()
                } else {
                    view! { <LineChart title="Validation accuracy and macro F1" x_label="step" series=metric_series id="chart-metrics"/> }.into_any()
                }}
                <LineChart title="Learning rate" x_label="step" series=lr_series id="chart-lr"/>
                {move || studio.answer_scores.with(|s| !s.is_empty()).then(|| view! {
                    <LineChart title="Validation answers" x_label="step" series=answer_series id="chart-answers"/>
                })}
            </div>
            {move || studio.answer_scores.with(|s| s.last().copied()).map(|(step, s)| view! {
                <p id="train-scores">{format!("Answers to the validation prompts at step {step}: {}.", s.summary())}</p>
            })}
            {move || {
                let said = studio.samples.get();
                let step = said.first().map_or(0, |s| s.step);
                (!said.is_empty()).then(|| view! {
                    <h3>{format!("What the model says now (step {step})")}</h3>
                    <SamplesTable samples=said id="train-samples"/>
                })
            }}
            <super::runs_panel::RunsPanel/>
            <NextButton to=Step::Results enabled=Signal::derive(move || studio.results.get().is_some())/>
        </StepSection>
    }
}

/// A generative model's greedy replies to the fixed validation prompts, beside what the data
/// says should follow.
#[component]
pub fn SamplesTable(samples: Vec<crate::session::Sample>, id: &'static str) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="samples" id=id>
                <thead><tr><th scope="col">"line"</th><th scope="col">"prompt"</th><th scope="col">"the model's reply"</th><th scope="col">"the data's answer"</th></tr></thead>
                <tbody>
                    {samples.into_iter().map(|s| view! {
                        <tr><td class="num">{s.line}</td><td>{s.prompt}</td><td class="reply">{s.reply}</td><td>{s.reference}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
