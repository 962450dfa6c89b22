//! The local sentence-embedding model: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions) run on
//! the CPU with candle. Mean pooling over the attention mask, then L2 normalisation, as the
//! sentence-transformers model card prescribes.

use std::fmt;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use crate::KbError;

/// The number of dimensions of an embedding.
pub const DIM: usize = 384;
/// all-MiniLM-L6-v2 was trained on at most 256 word pieces per text; longer input is truncated.
const MAX_TOKENS: usize = 256;
/// Texts embedded per forward pass when embedding many.
const BATCH: usize = 16;

/// The embedding model, loaded once and shared (it is `Send + Sync`; `embed` takes `&self`).
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dir: PathBuf,
}

impl fmt::Debug for Embedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedder").field("dir", &self.dir).field("dim", &DIM).finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` (or `pytorch_model.bin`)
    /// from `dir`, as `scripts/fetch-model` lays them out.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, KbError> {
        let dir = dir.as_ref();
        let missing = |file: &str| KbError::ModelMissing { dir: dir.to_path_buf(), file: file.to_owned() };
        let config_path = dir.join("config.json");
        let tokenizer_path = dir.join("tokenizer.json");
        if !config_path.is_file() {
            return Err(missing("config.json"));
        }
        if !tokenizer_path.is_file() {
            return Err(missing("tokenizer.json"));
        }
        let config_text = std::fs::read_to_string(&config_path)
            .map_err(|source| KbError::Io { path: config_path.clone(), source })?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| KbError::ModelInvalid { dir: dir.to_path_buf(), reason: format!("config.json: {e}") })?;
        if config.hidden_size != DIM {
            return Err(KbError::ModelInvalid {
                dir: dir.to_path_buf(),
                reason: format!("hidden size {} but {DIM} is expected (all-MiniLM-L6-v2)", config.hidden_size),
            });
        }
        let device = Device::Cpu;
        let safetensors = dir.join("model.safetensors");
        let pth = dir.join("pytorch_model.bin");
        let vb = if safetensors.is_file() {
            let bytes =
                std::fs::read(&safetensors).map_err(|source| KbError::Io { path: safetensors.clone(), source })?;
            VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device)
        } else if pth.is_file() {
            VarBuilder::from_pth(&pth, DType::F32, &device)
        } else {
            return Err(missing("model.safetensors"));
        }
        .map_err(|e| KbError::ModelInvalid { dir: dir.to_path_buf(), reason: format!("weights: {e}") })?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| KbError::ModelInvalid { dir: dir.to_path_buf(), reason: format!("weights: {e}") })?;

        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| KbError::ModelInvalid { dir: dir.to_path_buf(), reason: format!("tokenizer.json: {e}") })?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..TruncationParams::default() }))
            .map_err(|e| KbError::ModelInvalid { dir: dir.to_path_buf(), reason: format!("tokenizer: {e}") })?;
        Ok(Self { model, tokenizer, device, dir: dir.to_path_buf() })
    }

    /// The folder the model was loaded from.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Embeds one text: a unit vector of [`DIM`] floats.
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>, KbError> {
        let mut v = self.embed_batch(&[text])?;
        v.pop().ok_or_else(|| KbError::Embedding("the model returned no vector".into()))
    }

    /// Embeds many texts, in batches of similar length; one unit vector per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, KbError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            for (&i, v) in chunk.iter().zip(self.embed_batch(&batch)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, KbError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut encodings = Vec::with_capacity(texts.len());
        for text in texts {
            let enc = self
                .tokenizer
                .encode(*text, true)
                .map_err(|e| KbError::Embedding(format!("tokenizing {:?}: {e}", preview(text))))?;
            encodings.push(enc);
        }
        let len = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(texts.len() * len);
        let mut mask = Vec::with_capacity(texts.len() * len);
        for enc in &encodings {
            let n = enc.get_ids().len();
            ids.extend_from_slice(enc.get_ids());
            ids.extend(std::iter::repeat_n(0u32, len - n));
            mask.extend_from_slice(enc.get_attention_mask());
            mask.extend(std::iter::repeat_n(0u32, len - n));
        }
        let shape = (texts.len(), len);
        let input_ids = Tensor::from_vec(ids, shape, &self.device)?;
        let attention = Tensor::from_vec(mask, shape, &self.device)?;
        let token_types = input_ids.zeros_like()?;
        let hidden = self.model.forward(&input_ids, &token_types, Some(&attention))?;
        let mask_f = attention.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask_f)?.sum(1)?;
        let counts = mask_f.sum(1)?.clamp(1e-9f32, f32::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
        let unit = mean.broadcast_div(&norms)?;
        Ok(unit.to_vec2::<f32>()?)
    }
}

fn preview(text: &str) -> String {
    text.chars().take(40).collect()
}

/// The cosine similarity of two unit vectors (their dot product).
#[must_use]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    crate::vectors::dot(a, b)
}
