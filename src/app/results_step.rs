//! Step 5: results. Final metrics, per-class precision/recall/F1, the confusion matrix
//! and the validation examples the model got wrong.

use leptos::prelude::*;

use super::components::confusion::ConfusionMatrix;
use super::train_step::SamplesTable;
use super::state::{Step, Studio};
use super::{NextButton, StepSection};

/// Wrong examples listed at most.
const MISTAKES_SHOWN: usize = 50;
/// Worst answers listed at most.
const ANSWERS_SHOWN: usize = 20;

/// A generative model's worst validation answers: the wrong ones, lowest ROUGE-L first.
#[component]
fn AnswersTable(answers: Vec<crate::session::ScoredAnswer>) -> impl IntoView {
    let wrong: Vec<_> = answers.into_iter().filter(|a| !a.exact).collect();
    let count = wrong.len();
    if count == 0 {
        return view! { <p id="result-answers-all-right">"Every scored validation answer equals the data's answer."</p> }.into_any();
    }
    view! {
        <h3>{format!("Wrong on {count} validation answers")}{(count > ANSWERS_SHOWN).then(|| format!(" (the {ANSWERS_SHOWN} furthest off shown)"))}</h3>
        <div class="table-scroll">
            <table class="samples" id="result-answers">
                <thead><tr><th scope="col">"line"</th><th scope="col">"prompt"</th><th scope="col">"the model's answer"</th><th scope="col">"the data's answer"</th><th scope="col">"ROUGE-L"</th></tr></thead>
                <tbody>
                    {wrong.into_iter().take(ANSWERS_SHOWN).map(|a| view! {
                        <tr><td class="num">{a.line}</td><td>{a.prompt}</td><td class="reply">{a.prediction}</td><td>{a.reference}</td><td class="num">{format!("{:.3}", a.rouge_l)}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The results step.
#[component]
pub fn ResultsStep() -> impl IntoView {
    let studio = expect_context::<Studio>();
    view! {
        <StepSection step=Step::Results>
            {move || match studio.results.get() {
                None => view! { <p class="hint">"Results appear here when training ends (or is stopped)."</p> }.into_any(),
                Some(results) => {
                    let ended = format!("{} The model kept is the one from step {}.", results.ended, results.kept_step);
                    if let Some(lm) = results.language.clone() {
                        let said = results.samples.clone();
                        let step = said.first().map_or(0, |s| s.step);
                        let answers = results.answers.clone();
                        return view! {
                            <p>{ended}</p>
                            <dl class="facts metrics" id="final-metrics">
                                <dt>"Validation loss"</dt><dd id="metric-loss">{format!("{:.4}", lm.loss)}</dd>
                                <dt>"Perplexity"</dt><dd id="metric-perplexity">{format!("{:.3}", lm.perplexity)}</dd>
                                <dt>"Tokens scored"</dt><dd>{lm.tokens}</dd>
                                {lm.generation.map(|g| view! {
                                    <dt>"BLEU"</dt><dd id="metric-bleu">{format!("{:.2}", g.bleu)}</dd>
                                    <dt>"ROUGE-L F1"</dt><dd id="metric-rouge-l">{format!("{:.4}", g.rouge_l)}</dd>
                                    <dt>"Exact match"</dt><dd id="metric-exact-match">{format!("{:.4}", g.exact_match)}</dd>
                                    <dt>"Answers scored"</dt><dd>{g.generated}</dd>
                                })}
                            </dl>
                            {answers.map(|a| view! { <AnswersTable answers=a.answers/> })}
                            {(!said.is_empty()).then(|| view! {
                                <h3>{format!("Replies at the last evaluation (step {step})")}</h3>
                                <SamplesTable samples=said id="result-samples"/>
                            })}
                        }.into_any();
                    }
                    match results.report {
                        None => view! { <p>{ended}</p><p class="hint">"There was no validation data, so there are no metrics. Add a validation file or hold out a share in the settings."</p> }.into_any(),
                        Some(report) => {
                            let wrong = results.mistakes.len();
                            view! {
                                <p>{ended}</p>
                                <dl class="facts metrics" id="final-metrics">
                                    <dt>"Accuracy"</dt><dd id="metric-accuracy">{format!("{:.4}", report.accuracy)}</dd>
                                    <dt>"Macro F1"</dt><dd>{format!("{:.4}", report.macro_f1)}</dd>
                                    <dt>"Macro precision"</dt><dd>{format!("{:.4}", report.macro_precision)}</dd>
                                    <dt>"Macro recall"</dt><dd>{format!("{:.4}", report.macro_recall)}</dd>
                                    <dt>"Loss"</dt><dd>{format!("{:.4}", report.loss)}</dd>
                                    <dt>"Examples"</dt><dd>{report.examples}</dd>
                                </dl>
                                <table class="per-class">
                                    <caption>"Per label"</caption>
                                    <thead><tr><th scope="col">"label"</th><th scope="col">"precision"</th><th scope="col">"recall"</th><th scope="col">"F1"</th><th scope="col">"support"</th></tr></thead>
                                    <tbody>
                                        {report.per_class.iter().map(|c| view! {
                                            <tr><th scope="row">{c.label.clone()}</th><td class="num">{format!("{:.4}", c.precision)}</td>
                                                <td class="num">{format!("{:.4}", c.recall)}</td><td class="num">{format!("{:.4}", c.f1)}</td><td class="num">{c.support}</td></tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                <ConfusionMatrix labels=report.labels.clone() matrix=report.confusion.clone()/>
                                <h3>{format!("Wrong on {wrong} validation examples")}{(wrong > MISTAKES_SHOWN).then(|| format!(" (the {MISTAKES_SHOWN} most confident shown)"))}</h3>
                                <div class="table-scroll">
                                    <table class="mistakes" id="mistakes">
                                        <thead><tr><th scope="col">"line"</th><th scope="col">"text"</th><th scope="col">"true"</th><th scope="col">"predicted"</th><th scope="col">"confidence"</th></tr></thead>
                                        <tbody>
                                            {results.mistakes.iter().take(MISTAKES_SHOWN).map(|m| view! {
                                                <tr><td class="num">{m.line}</td>
                                                    <td>{m.text.clone()}{m.pair.clone().map(|p| view! { <br/><span class="pair">{p}</span> })}</td>
                                                    <td>{m.truth.clone()}</td><td>{m.predicted.clone()}</td>
                                                    <td class="num">{format!("{:.1}%", m.confidence * 100.0)}</td></tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }.into_any()
                        }
                    }
                }
            }}
            <NextButton to=Step::Try enabled=Signal::derive(move || studio.results.get().is_some())/>
        </StepSection>
    }
}
