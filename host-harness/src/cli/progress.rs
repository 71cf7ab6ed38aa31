//! A progress bar on stderr for actions that report progress (uploads):
//! bytes, rate and time left while uploading, then X's processing percent.
//! Shown only when stderr is a terminal.

use host_harness::{Progress, ProgressSink};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::{Arc, Mutex};

/// The bar, created at the first report.
#[derive(Clone, Default)]
pub struct Bar {
    inner: Arc<Mutex<Option<(String, ProgressBar)>>>,
}

impl Bar {
    pub fn new() -> Bar {
        Bar::default()
    }

    /// The receiver to give the run.
    pub fn sink(&self) -> ProgressSink {
        let bar = self.clone();
        Arc::new(move |p: &Progress| bar.show(p))
    }

    fn show(&self, progress: &Progress) {
        let mut slot = self.inner.lock().unwrap();
        let same_stage = matches!(&*slot, Some((stage, _)) if *stage == progress.stage);
        if !same_stage {
            if let Some((_, old)) = slot.take() {
                old.finish();
            }
            let bar = ProgressBar::with_draw_target(progress.total, ProgressDrawTarget::stderr());
            bar.set_style(style(&progress.stage));
            bar.set_message(progress.stage.clone());
            *slot = Some((progress.stage.clone(), bar));
        }
        if let Some((_, bar)) = &*slot {
            if let Some(total) = progress.total {
                bar.set_length(total);
            }
            bar.set_position(progress.done);
        }
    }

    /// Ends the bar, leaving its last state on screen.
    pub fn finish(&self) {
        if let Some((_, bar)) = self.inner.lock().unwrap().take() {
            bar.finish();
        }
    }
}

fn style(stage: &str) -> ProgressStyle {
    let template = if stage == "uploading" {
        "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}"
    } else {
        "{msg:>10} [{bar:30}] {pos}/{len}"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}
