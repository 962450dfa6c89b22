//! Canned responses: create, change, delete, and list by scope, language and words.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{ListError, Page, Result, Store, StoreError, from_ms, like_escape, now_ms, parse, parse_opt};
use crate::canned::{CannedContent, CannedFilter, CannedResponse, Shortcut, fold};
use crate::ids::{AgentId, CannedResponseId};
use crate::values::ValidationError;

const COLUMNS: &str = "id, queue, shortcut, title, body, language, created_by, created_at, updated_at";

fn canned_from_row(row: &AnyRow) -> Result<CannedResponse> {
    Ok(CannedResponse {
        id: parse(row, "id")?,
        content: CannedContent::trusted(
            parse_opt(row, "queue")?,
            parse(row, "shortcut")?,
            row.try_get("title")?,
            row.try_get("body")?,
            parse(row, "language")?,
        ),
        created_by: parse(row, "created_by")?,
        created_at: from_ms(row.try_get("created_at")?)?,
        updated_at: from_ms(row.try_get("updated_at")?)?,
    })
}

/// A taken shortcut is a conflict that says which.
fn taken(e: sqlx::Error, content: &CannedContent) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "the shortcut {} is taken in {} for {}",
            content.shortcut,
            content.language,
            content.queue.as_ref().map_or_else(|| "every queue".to_owned(), |q| format!("queue {q}"))
        )),
        other => other,
    }
}

/// Where a page of canned responses ends: the last shortcut and id (a shortcut has no `.`).
fn encode_cursor(c: &CannedResponse) -> String {
    format!("{}.{}", c.content.shortcut, c.id)
}

fn decode_cursor(s: &str) -> Result<(Shortcut, CannedResponseId), ValidationError> {
    let bad = || ValidationError::Invalid { field: "cursor", reason: "not a cursor from a previous page".into() };
    let (shortcut, id) = s.split_once('.').ok_or_else(bad)?;
    Ok((shortcut.parse().map_err(|_| bad())?, id.parse().map_err(|_| bad())?))
}

impl Store {
    /// Stores a new canned response.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if its shortcut is taken in its scope and language, or a
    /// database failure.
    pub async fn create_canned_response(&self, content: CannedContent, by: AgentId) -> Result<CannedResponse> {
        let now = now_ms();
        let canned = CannedResponse {
            id: CannedResponseId::new(),
            content,
            created_by: by,
            created_at: from_ms(now)?,
            updated_at: from_ms(now)?,
        };
        let c = &canned.content;
        sqlx::query(
            "INSERT INTO canned_responses (id, queue, shortcut, title, body, language, search, created_by, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(canned.id.to_string())
        .bind(c.queue.as_ref().map(|q| q.as_str().to_owned()))
        .bind(c.shortcut.as_str())
        .bind(&c.title)
        .bind(&c.body)
        .bind(c.language.as_str())
        .bind(c.search_text())
        .bind(by.to_string())
        .bind(now)
        .execute(&self.write)
        .await
        .map_err(|e| taken(e, c))?;
        Ok(canned)
    }

    /// Replaces a canned response's content.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Conflict`] if the new shortcut is taken, or a
    /// database failure.
    pub async fn update_canned_response(&self, id: CannedResponseId, content: CannedContent) -> Result<CannedResponse> {
        let row = sqlx::query(&format!(
            "UPDATE canned_responses SET queue = $2, shortcut = $3, title = $4, body = $5, language = $6, \
             search = $7, updated_at = $8 WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(content.queue.as_ref().map(|q| q.as_str().to_owned()))
        .bind(content.shortcut.as_str())
        .bind(&content.title)
        .bind(&content.body)
        .bind(content.language.as_str())
        .bind(content.search_text())
        .bind(now_ms())
        .fetch_optional(&self.write)
        .await
        .map_err(|e| taken(e, &content))?
        .ok_or(StoreError::NotFound { what: "canned response" })?;
        canned_from_row(&row)
    }

    /// Deletes a canned response.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn delete_canned_response(&self, id: CannedResponseId) -> Result<()> {
        let done =
            sqlx::query("DELETE FROM canned_responses WHERE id = $1").bind(id.to_string()).execute(&self.write).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "canned response" });
        }
        Ok(())
    }

    /// The canned response `id`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn canned_response(&self, id: CannedResponseId) -> Result<CannedResponse> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM canned_responses WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound { what: "canned response" })?;
        canned_from_row(&row)
    }

    /// Canned responses by shortcut (then id), as `filter` says. `cursor` is the `next_cursor`
    /// of the previous page.
    ///
    /// # Errors
    /// A malformed cursor, or a database failure.
    pub async fn canned_responses(
        &self,
        filter: &CannedFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<CannedResponse>, ListError> {
        let after = cursor.map(decode_cursor).transpose()?;
        let mut sql = format!("SELECT {COLUMNS} FROM canned_responses WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        let param = |value: String, binds: &mut Vec<String>| {
            binds.push(value);
            format!("${}", binds.len())
        };
        if let Some(queues) = &filter.queues {
            let mut scope = vec!["queue IS NULL".to_owned()];
            if !queues.is_empty() {
                let list: Vec<String> = queues.iter().map(|q| param(q.as_str().to_owned(), &mut binds)).collect();
                scope.push(format!("queue IN ({})", list.join(", ")));
            }
            sql.push_str(&format!(" AND ({})", scope.join(" OR ")));
        }
        if let Some(language) = filter.language {
            sql.push_str(&format!(" AND language = {}", param(language.as_str().to_owned(), &mut binds)));
        }
        for word in filter.query.as_deref().map(fold).unwrap_or_default().split_whitespace() {
            let p = param(format!("%{}%", like_escape(word)), &mut binds);
            sql.push_str(&format!(" AND search LIKE {p} ESCAPE '\\'"));
        }
        if let Some((shortcut, id)) = &after {
            let (a, b) = (param(shortcut.to_string(), &mut binds), param(shortcut.to_string(), &mut binds));
            let c = param(id.to_string(), &mut binds);
            sql.push_str(&format!(" AND (shortcut > {a} OR (shortcut = {b} AND id > {c}))"));
        }
        sql.push_str(&format!(" ORDER BY shortcut, id LIMIT {}", i64::from(limit) + 1));
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.read).await.map_err(StoreError::from)?;
        let mut items = rows.iter().map(canned_from_row).collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(encode_cursor)
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_and_cursors() {
        assert_eq!(like_escape(r"50% off_now\"), r"50\% off\_now\\");
        let id = CannedResponseId::new();
        let (s, i) = decode_cursor(&format!("roaming-on.{id}")).unwrap();
        assert_eq!((s.as_str(), i), ("roaming-on", id));
        for bad in ["", "roaming-on", "roaming-on.x", ".0190f6f2-7c1e-7000-8000-000000000001"] {
            assert_eq!(decode_cursor(bad).err().map(|e| e.field()), Some("cursor"), "{bad:?}");
        }
    }
}
