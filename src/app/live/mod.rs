//! The Live preview's concern: a simulated user's session page by page (on the GUI thread: a
//! page takes milliseconds), the words that steer it, and the A/B test of many users (a task).

pub mod learned;
pub mod panel;
pub mod preview;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::data::Loaded;
use super::evaluation::OpenedModel;
use super::generative::DescribedRequest;
use super::language::{Language, PERSONA_TEMPERATURE};
use super::state::AppState;
use super::task::{Reporter, Update};
use crate::data::{Split, SplitStrategy};
use crate::recommend::{BaselineConfig, Recommender};
use learned::{LearnedPolicy, LearningCurve};
use preview::{Preview, RequestTiming};

/// What the preview does after a frame.
pub enum Playing {
    Paused,
    /// The next page is due in this long.
    NextPageIn(Duration),
    /// The simulated user left: the session is over.
    UserLeft,
}

#[derive(Default)]
pub struct LiveState {
    /// The sessions shown side by side.
    pub preview: Option<Preview>,
    pub playing: bool,
    pub error: Option<String>,
    /// When the next page is due while playing.
    next_page_at: Option<Instant>,
    pub ab_report: Option<crate::sim::AbReport>,
    /// The learned policy (`rl`) the preview and the A/B run use, when one is open.
    pub learned: Option<LearnedPolicy>,
    /// The learning curve of the training running here (or the last one).
    pub learning: Option<LearningCurve>,
}

impl LiveState {
    /// Starts the sessions afresh for the selected user.
    pub fn reset(
        &mut self,
        loaded: Option<&Arc<Loaded>>,
        model: Option<&Arc<OpenedModel>>,
        settings: &AppState,
    ) {
        self.playing = false;
        self.error = None;
        let Some(loaded) = loaded else {
            self.error = Some("load a dataset first".into());
            return;
        };
        let built = preview_model(loaded, model).and_then(|model| {
            Preview::new(
                loaded,
                model,
                settings.user,
                settings.preview_policies,
                self.learned.as_ref().map(|l| Arc::clone(&l.policy)),
                7,
            )
        });
        match built {
            Ok(preview) => self.preview = Some(preview),
            Err(message) => self.error = Some(message),
        }
    }

    pub fn play(&mut self, play: bool) {
        self.playing = play && self.preview.is_some();
        self.next_page_at = None;
    }

    pub fn step(&mut self) {
        if let Some(preview) = &mut self.preview {
            preview.step();
        }
    }

    /// Tells the adaptive storefront what the person wants (`settings.request`).
    pub fn ask(&mut self, language: Result<Arc<Language>, String>, settings: &AppState) {
        let text = settings.request.trim();
        let Some(preview) = &mut self.preview else {
            return;
        };
        if text.is_empty() {
            preview.ask(None, RequestTiming::default());
            return;
        }
        match language.and_then(|l| l.request(text, settings.request_weight)) {
            Ok((request, embed_secs)) => {
                self.error = None;
                preview.ask(
                    Some(request),
                    RequestTiming {
                        embed_secs,
                        ..RequestTiming::default()
                    },
                );
            }
            Err(message) => self.error = Some(message),
        }
    }

    /// Applies a request the generative model described (its description embedded).
    pub fn ask_described(&mut self, described: DescribedRequest) {
        let Some(preview) = &mut self.preview else {
            return;
        };
        self.error = None;
        preview.ask(
            Some(described.request),
            RequestTiming {
                write_secs: described.write_secs,
                embed_secs: described.embed_secs,
                rerank_secs: 0.0,
            },
        );
    }

    /// Sets the simulated person's hidden taste from a description (`settings.persona`).
    pub fn describe_persona(&mut self, language: Result<Arc<Language>, String>, persona: &str) {
        let description = persona.trim();
        if description.is_empty() {
            return;
        }
        let taste = language.and_then(|language| {
            language
                .genre_similarities(description)
                .map(|s| crate::sim::taste_from_similarities(&s, PERSONA_TEMPERATURE))
        });
        match (taste, &mut self.preview) {
            (Ok(taste), Some(preview)) => {
                self.error = None;
                preview.set_persona(description, taste);
            }
            (Err(message), _) => self.error = Some(message),
            (Ok(_), None) => {}
        }
    }

    /// While playing, shows the next page when it is due and says what comes next.
    pub fn play_due_page(&mut self, pages_per_sec: f64) -> Playing {
        if !self.playing {
            return Playing::Paused;
        }
        let Some(preview) = &mut self.preview else {
            self.playing = false;
            return Playing::Paused;
        };
        let interval = Duration::from_secs_f64(1.0 / pages_per_sec.clamp(0.1, 60.0));
        let now = Instant::now();
        if self.next_page_at.is_none_or(|due| now >= due) {
            preview.step();
            self.next_page_at = Some(now + interval);
            if preview.is_over() {
                self.playing = false;
                return Playing::UserLeft;
            }
        }
        Playing::NextPageIn(
            self.next_page_at
                .map_or(interval, |due| due.saturating_duration_since(now)),
        )
    }

    /// Takes the A/B test's end; returns the run folder it was saved to.
    /// Takes in the learned policy's training; returns its run folder when it is done.
    pub fn on_learning_update(&mut self, update: Update) -> Option<PathBuf> {
        let curve = self.learning.get_or_insert_with(LearningCurve::default);
        match curve.on_update(update)? {
            Ok(learned) => {
                let dir = learned.dir.clone();
                self.learned = Some(learned);
                Some(dir)
            }
            Err(message) => {
                self.error = Some(message);
                None
            }
        }
    }

    /// Opens a learned policy's run for the preview and the A/B run.
    pub fn open_learned(&mut self, dir: &std::path::Path) {
        match LearnedPolicy::open(dir) {
            Ok((learned, curve)) => {
                self.error = None;
                self.learned = Some(learned);
                self.learning = Some(curve);
            }
            Err(message) => self.error = Some(message),
        }
    }

    pub fn on_ab_update(&mut self, update: Update) -> Option<PathBuf> {
        match update.outcome::<AbOutcome>()? {
            Ok(AbOutcome { report, dir }) => {
                self.ab_report = Some(report);
                Some(dir)
            }
            Err(message) => {
                self.error = Some(message);
                None
            }
        }
    }
}

/// The model the preview and A/B use: the opened one, or Pop fitted on the loaded data.
pub fn preview_model(
    loaded: &Loaded,
    model: Option<&Arc<OpenedModel>>,
) -> Result<Arc<dyn Recommender>, String> {
    if let Some(opened) = model {
        return Ok(opened.model.clone());
    }
    let split =
        Split::new(&loaded.dataset, SplitStrategy::LeaveOneOut).map_err(|e| e.to_string())?;
    BaselineConfig::Pop
        .fit(&loaded.dataset, &split)
        .map(Arc::from)
        .map_err(|e| e.to_string())
}

/// A simulated A/B test and the run folder it was saved to.
pub struct AbOutcome {
    report: crate::sim::AbReport,
    dir: PathBuf,
}

/// The A/B task's worker: many simulated users through the policies, saved as a run.
pub fn run_ab(
    loaded: &Loaded,
    model: &dyn Recommender,
    config: &crate::sim::AbConfig,
    learned: Option<&Arc<dyn crate::sim::PageValues>>,
    runs_root: &std::path::Path,
    _out: &Reporter,
) -> Result<AbOutcome, String> {
    let split =
        Split::new(&loaded.dataset, SplitStrategy::LeaveOneOut).map_err(|e| e.to_string())?;
    let report = crate::sim::run_ab_with(model, &loaded.dataset, &split, config, learned);
    let run = crate::sim::ab_run_file(&report, config, &loaded.dataset, &loaded.spec.path);
    let dir = run.save(runs_root).map_err(|e| e.to_string())?;
    Ok(AbOutcome { report, dir })
}
