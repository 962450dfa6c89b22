//! Answerability: whether the best passage actually answers the question, as a calibrated
//! probability from features of the retrieval (fused score, margin to the next document, cosine,
//! term coverage, whether both retrievers agree, language certainty, query length, intent
//! similarity). A logistic model whose weights are fitted on the tuning set only
//! (`cargo run -p bot --release --example evaluate -- fit`); the test set is never used for it.

use knowledge_base::{Hit, Language};

/// The number of features.
pub const FEATURES: usize = 10;

/// The features' names, in order (for the evaluation report and the fitted weights).
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "score",
    "margin",
    "similarity",
    "coverage",
    "agree",
    "language_sure",
    "query_terms",
    "intent",
    "spanish",
    "portuguese",
];

/// A logistic model over the features: `p = 1 / (1 + exp(-(bias + Σ wᵢ·xᵢ)))`.
#[derive(Clone, Debug, PartialEq)]
pub struct Answerability {
    pub weights: [f32; FEATURES],
    pub bias: f32,
}

impl Default for Answerability {
    /// Fitted on `bot/eval/tuning.json` with the demo knowledge base and all-MiniLM-L6-v2
    /// (see BENCHMARKS.md, "Bot evaluation").
    fn default() -> Self {
        Self { weights: [2.314, 2.638, 0.912, 2.708, 0.665, 0.024, 0.729, 0.736, -0.542, -0.766], bias: -4.024 }
    }
}

impl Answerability {
    /// The probability that the best hit answers the question.
    #[must_use]
    pub fn probability(&self, features: &[f32; FEATURES]) -> f32 {
        let z = self.bias + self.weights.iter().zip(features).map(|(w, x)| w * x).sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }
}

/// The features of a search result. `hits` best first (one per document); `query_terms` is the
/// number of analyzed terms of the query; `intent_score` the cosine of the nearest intent
/// example (0 without one).
#[must_use]
pub fn features(
    hits: &[Hit],
    language: Language,
    language_sure: bool,
    query_terms: usize,
    intent_score: f32,
) -> [f32; FEATURES] {
    let Some(best) = hits.first() else {
        return [0.0; FEATURES];
    };
    let second = hits.get(1).map_or(0.0, |h| h.score);
    [
        best.score,
        best.score - second,
        best.similarity.unwrap_or(0.0),
        best.coverage,
        f32::from(u8::from(best.bm25_rank == Some(1) && best.vector_rank == Some(1))),
        f32::from(u8::from(language_sure)),
        (1.0 + query_terms as f32).ln(),
        intent_score,
        f32::from(u8::from(language == Language::Es)),
        f32::from(u8::from(language == Language::Pt)),
    ]
}

/// Fits the logistic model by gradient descent on (features, answered-correctly) pairs, with a
/// small L2 penalty; used by the evaluation example on the tuning set.
#[must_use]
pub fn fit(samples: &[([f32; FEATURES], bool)], epochs: usize, rate: f32, l2: f32) -> Answerability {
    let mut model = Answerability { weights: [0.0; FEATURES], bias: 0.0 };
    if samples.is_empty() {
        return model;
    }
    let n = samples.len() as f32;
    for _ in 0..epochs {
        let mut grad = [0.0f32; FEATURES];
        let mut grad_bias = 0.0f32;
        for (x, y) in samples {
            let err = model.probability(x) - f32::from(u8::from(*y));
            for (g, xi) in grad.iter_mut().zip(x) {
                *g += err * xi;
            }
            grad_bias += err;
        }
        for (w, g) in model.weights.iter_mut().zip(grad) {
            *w -= rate * (g / n + l2 * *w);
        }
        model.bias -= rate * grad_bias / n;
    }
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_separates_a_simple_case() {
        let mut samples = Vec::new();
        for i in 0..50 {
            let s = i as f32 / 50.0;
            let mut x = [0.0; FEATURES];
            x[0] = s;
            samples.push((x, s > 0.5));
        }
        let m = fit(&samples, 3000, 2.0, 0.0);
        let mut lo = [0.0; FEATURES];
        lo[0] = 0.1;
        let mut hi = [0.0; FEATURES];
        hi[0] = 0.9;
        assert!(m.probability(&lo) < 0.2 && m.probability(&hi) > 0.8, "{m:?}");
    }
}
