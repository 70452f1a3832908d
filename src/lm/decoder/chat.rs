//! Chat templates: the Jinja a model ships (`tokenizer.chat_template` in a GGUF,
//! `chat_template` in `tokenizer_config.json`), rendered with minijinja — the engine Hugging
//! Face's Rust servers use — set up as transformers' `apply_chat_template` sets up Jinja2
//! (trim_blocks, lstrip_blocks, `raise_exception`, `strftime_now`, Python string methods), so the
//! prompt is the one transformers gives.

use serde::Serialize;

use crate::lm::error::{LmError, Result};

/// Instructions a template may run: real chat templates use a few thousand per conversation.
const TEMPLATE_FUEL: u64 = 5_000_000;

/// One message of a conversation.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

/// A model's chat template with the special tokens it refers to.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    pub source: String,
    pub bos_token: String,
    pub eos_token: String,
}

impl ChatTemplate {
    /// The prompt for `messages`, ending with the assistant's turn opened
    /// (`add_generation_prompt`).
    pub fn render(&self, messages: &[Message]) -> Result<String> {
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        // A template is data from the model file: bound its work so a damaged or hostile one
        // (nested loops over large ranges) ends in an error instead of running for hours.
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    message,
                ))
            },
        );
        env.add_function("strftime_now", |format: String| {
            chrono::Local::now().format(&format).to_string()
        });
        let template = env.template_from_str(&self.source).map_err(|e| {
            LmError::Template(format!("the model's chat template does not parse: {e}"))
        })?;
        template
            .render(minijinja::context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| LmError::Template(format!("the model's chat template failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML_WITH_DEFAULT_SYSTEM: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are helpful<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn template(source: &str) -> ChatTemplate {
        ChatTemplate {
            source: source.into(),
            bos_token: "<s>".into(),
            eos_token: "</s>".into(),
        }
    }

    #[test]
    fn chatml_adds_its_default_system_message() {
        let prompt = template(CHATML_WITH_DEFAULT_SYSTEM)
            .render(&[Message::new("user", "Hi")])
            .unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nYou are helpful<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let prompt = template(CHATML_WITH_DEFAULT_SYSTEM)
            .render(&[
                Message::new("system", "Be brief"),
                Message::new("user", "Hi"),
            ])
            .unwrap();
        assert!(prompt.starts_with("<|im_start|>system\nBe brief<|im_end|>\n"));
    }

    #[test]
    fn python_methods_and_raise_exception_work_as_in_transformers() {
        let source = "{{ bos_token }}{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('only user and assistant') }}{% endif %}[{{ m.content.strip() | upper }}]{% endfor %}";
        assert_eq!(
            template(source)
                .render(&[Message::new("user", "  hi  ")])
                .unwrap(),
            "<s>[HI]"
        );
        let err = template(source)
            .render(&[Message::new("tool", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("only user and assistant"), "{err}");
    }
}
