//! Grouping the questions the bot could not answer, so trainers see "asked 14 times" once
//! rather than 14 rows: greedy single-pass clustering by cosine similarity of the embeddings
//! (or, without a model, by the same content words).

use knowledge_base::{KbError, KnowledgeBase, cosine};

/// Two questions are "the same" from this cosine similarity on.
pub const SAME_QUESTION: f32 = 0.78;

fn words(text: &str) -> Vec<String> {
    let mut w: Vec<String> = text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 3)
        .map(str::to_owned)
        .collect();
    w.sort_unstable();
    w.dedup();
    w
}

/// Groups `questions` by similarity: each group lists indexes into `questions`, the first being
/// the group's representative; groups come largest first, then in order of first appearance.
///
/// # Errors
/// The model fails to embed.
pub fn group_questions(kb: &KnowledgeBase, questions: &[&str]) -> Result<Vec<Vec<usize>>, KbError> {
    let vectors = match kb.embedder() {
        Some(e) if !questions.is_empty() => Some(e.embed(questions)?),
        _ => None,
    };
    let keys: Vec<Vec<String>> = questions.iter().map(|q| words(q)).collect();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in 0..questions.len() {
        let same = |g: &Vec<usize>| {
            let rep = g[0];
            match &vectors {
                Some(v) => cosine(&v[rep], &v[i]) >= SAME_QUESTION,
                None => !keys[i].is_empty() && keys[rep] == keys[i],
            }
        };
        match groups.iter_mut().find(|g| same(g)) {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    groups.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_model_the_same_words_group() {
        let kb = KnowledgeBase::new(None).unwrap();
        let q = ["Can I keep my number?", "can I keep my NUMBER", "what is a PUK code?", "can I keep my number"];
        assert_eq!(group_questions(&kb, &q).unwrap(), vec![vec![0, 1, 3], vec![2]]);
        assert!(group_questions(&kb, &[]).unwrap().is_empty());
    }
}
