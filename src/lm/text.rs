//! Item text from a template over the item's fields, and a user's profile text written from
//! their history: what the language model is told, shown so a person can read it.

use crate::data::Dataset;

/// A parsed template such as `{title} ({year}). {genres}.`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Field(String),
}

/// Fields every dataset offers; a dataset's item table adds its own columns.
pub const BUILT_IN_FIELDS: &[&str] = &["id", "title", "year", "genres", "categories", "text"];

impl Template {
    /// Parses `{field}` placeholders; `{{` and `}}` stand for literal braces.
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let name = name.trim();
                    if name.is_empty() || name.contains('{') {
                        return Err(format!(
                            "template {source:?}: a placeholder must be {{field}}, e.g. {{title}}"
                        ));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(name.to_string()));
                }
                '}' => return Err(format!("template {source:?}: a `}}` without its `{{`")),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The template a dataset gets unless told otherwise: MovieLens-like sets have years,
    /// Amazon-like sets a brand.
    pub fn default_for(dataset: &Dataset) -> Template {
        let has_year = dataset.items.iter().skip(1).any(|i| i.year.is_some());
        let has_brand = dataset.items.iter().any(|i| i.fields.contains_key("brand"));
        let source = if has_year {
            "{title} ({year}). {genres}."
        } else if has_brand {
            "{title}. {categories}. {brand}."
        } else {
            "{title}. {categories}."
        };
        // Invariant: the sources above are well-formed templates.
        Template::parse(source).expect("built-in templates parse")
    }

    /// The template `source` (or the dataset's default when `None`), checked against the
    /// dataset's fields.
    pub fn for_dataset(dataset: &Dataset, source: Option<&str>) -> Result<Template, String> {
        let template = match source {
            Some(source) => Template::parse(source)?,
            None => Template::default_for(dataset),
        };
        template.check(dataset)?;
        Ok(template)
    }

    /// Checks every placeholder names a field of `dataset`.
    pub fn check(&self, dataset: &Dataset) -> Result<(), String> {
        for part in &self.parts {
            if let Part::Field(name) = part
                && !BUILT_IN_FIELDS.contains(&name.as_str())
                && !dataset.items.iter().any(|i| i.fields.contains_key(name))
            {
                let mut known: Vec<String> =
                    BUILT_IN_FIELDS.iter().map(|s| s.to_string()).collect();
                known.extend(dataset.item_field_names());
                return Err(format!(
                    "template {:?}: no item has a field `{name}`; the fields are {}",
                    self.source,
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The text of item `item` (1-based; 0 is padding and gives an empty text).
    pub fn render(&self, dataset: &Dataset, item: u32) -> String {
        let Some(meta) = dataset.items.get(item as usize).filter(|_| item != 0) else {
            return String::new();
        };
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field(name) => match name.as_str() {
                    "id" => out.push_str(&meta.id),
                    "title" => out.push_str(meta.title.as_deref().unwrap_or_default()),
                    "year" => {
                        if let Some(year) = meta.year {
                            out.push_str(&year.to_string());
                        }
                    }
                    "genres" | "categories" => {
                        out.push_str(&dataset.item_category_names(item).join(", "))
                    }
                    "text" => out.push_str(meta.text.as_deref().unwrap_or_default()),
                    other => out.push_str(meta.fields.get(other).map_or("", String::as_str)),
                },
            }
        }
        tidy(&out)
    }

    /// Every item's text, index 0 (padding) included as an empty text.
    pub fn render_all(&self, dataset: &Dataset) -> Vec<String> {
        (0..=dataset.num_items() as u32)
            .map(|item| self.render(dataset, item))
            .collect()
    }
}

/// Removes what empty fields leave behind: `()`, doubled spaces, a space before punctuation,
/// and runs of full stops.
fn tidy(text: &str) -> String {
    let mut out = text.replace("()", "").replace("[]", "");
    out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for (from, to) in [(" .", "."), (" ,", ","), ("..", "."), (". .", ".")] {
        while out.contains(from) {
            out = out.replace(from, to);
        }
    }
    let trimmed = out.trim_start_matches(['.', ',', ' ']);
    if trimmed == "." {
        String::new()
    } else {
        trimmed.to_string()
    }
}

/// How many recent items and favourite categories a profile names.
pub const PROFILE_RECENT: usize = 10;
pub const PROFILE_CATEGORIES: usize = 3;

/// A user's profile text, as the "LLM user profile" of the research: the latest titles of the
/// history (most recent first) and the categories met most often.
pub fn profile_text(dataset: &Dataset, history: &[u32]) -> String {
    if history.is_empty() {
        return String::new();
    }
    let title = |item: u32| {
        let meta = &dataset.items[item as usize];
        meta.title
            .clone()
            .unwrap_or_else(|| format!("item {}", meta.id))
    };
    let recent: Vec<String> = history
        .iter()
        .rev()
        .take(PROFILE_RECENT)
        .map(|&i| title(i))
        .collect();
    let mut counts = vec![0usize; dataset.category_names.len()];
    for &item in history {
        for &c in &dataset.items[item as usize].categories {
            counts[c as usize] += 1;
        }
    }
    let mut favourites: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] > 0).collect();
    // Most often first; ties in name order, so the text does not depend on hashing.
    favourites.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    let mut text = format!("Recently enjoyed: {}.", recent.join("; "));
    if !favourites.is_empty() {
        let names: Vec<&str> = favourites
            .iter()
            .take(PROFILE_CATEGORIES)
            .map(|&c| dataset.category_names[c].as_str())
            .collect();
        text.push_str(&format!(" Favourite kinds: {}.", names.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_placeholders_and_escapes() {
        let t = Template::parse("{title} {{x}} ({year})").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Field("title".into()),
                Part::Literal(" {x} (".into()),
                Part::Field("year".into()),
                Part::Literal(")".into()),
            ]
        );
        assert!(Template::parse("{title").is_err() || Template::parse("{}").is_err());
        assert!(Template::parse("{}").is_err());
        assert!(Template::parse("a } b").is_err());
    }

    #[test]
    fn tidy_removes_what_empty_fields_leave() {
        assert_eq!(tidy("Heat (). Action, Crime."), "Heat. Action, Crime.");
        assert_eq!(tidy("Heat (1995). ."), "Heat (1995).");
        assert_eq!(tidy(". . ."), "");
        assert_eq!(tidy("  A   b  "), "A b");
    }
}
