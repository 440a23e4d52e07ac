//! JavaScript values → the core's option vocabulary. Every check is the core's
//! ([`Options::set`] with [`Lang::Node`]); this file only says what kind of JavaScript value
//! each property is.

use napi::bindgen_prelude::{JsObjectValue, JsValue, Object, Unknown, Utf16String};
use napi::{Env, ValueType};
use napi_derive::napi;
use sigstore_kms_plugins::{
    HashFunc, Lang, OptionValue, Options, Spelling, DEFAULT_STDOUT_LIMIT, DEFAULT_TIMEOUT, MAX_SAFE_INTEGER, OPTIONS,
};

use crate::error;

/// `value` as the core takes option values: a number that is an exact integer is an integer.
pub fn value(value: &Unknown<'_>) -> napi::Result<OptionValue> {
    Ok(match value.get_type()? {
        ValueType::Null => OptionValue::Null,
        // SAFETY (this cast and the next): the value's type was just checked to be the one cast to.
        ValueType::Boolean => OptionValue::Bool(unsafe { value.cast::<bool>() }?),
        ValueType::Number => {
            let x = unsafe { value.cast::<f64>() }?;
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)] // exact: checked
            if x.fract() == 0.0 && x.abs() <= MAX_SAFE_INTEGER as f64 {
                OptionValue::Int(x as i128)
            } else {
                OptionValue::Float(x)
            }
        }
        ValueType::String => {
            // Read as UTF-16, so that a lone surrogate is seen (UTF-8 would replace it).
            // SAFETY: the value's type was just checked to be a string.
            let units = unsafe { value.cast::<Utf16String>() }?;
            String::from_utf16(&units).map_or(OptionValue::BadText, OptionValue::Text)
        }
        ValueType::Object => {
            // SAFETY: the value is an object; `Object` wraps any object.
            let object = unsafe { value.cast::<Object<'_>>() }?;
            if object.is_array()? {
                // A list of directories (for the options that take one) if every item is a string.
                let mut items = Vec::new();
                for i in 0..object.get_array_length()? {
                    let item: Unknown<'_> = object.get_element(i)?;
                    match value_of_item(&item)? {
                        Some(text) => items.push(text.into()),
                        None => {
                            return Ok(OptionValue::Other("an array holding something that is not a string".into()))
                        }
                    }
                }
                OptionValue::List(items)
            } else {
                OptionValue::Other("an object".into())
            }
        }
        other => OptionValue::Other(format!("a value of type {}", format!("{other}").to_lowercase())),
    })
}

/// An array item that is a string (`None` for anything else).
fn value_of_item(item: &Unknown<'_>) -> napi::Result<Option<String>> {
    match value(item)? {
        OptionValue::Text(t) => Ok(Some(t)),
        _ => Ok(None),
    }
}

/// The options object of `getSignerVerifier`, every property checked by the core under its
/// Node name (an unknown one is refused); `undefined` properties are left out. The plugin
/// directories are the package's (`setPluginDirs`).
pub fn from_object(env: &Env, options: Option<Object<'_>>) -> napi::Result<Options> {
    // The package's plugin directories are searched after PATH by every call.
    let mut opts = Options::default().plugin_dirs(crate::discovery::plugin_dirs());
    let Some(object) = options else { return Ok(opts) };
    for name in Object::keys(&object)? {
        let v: Unknown<'_> = object.get_named_property(&name)?;
        if v.get_type()? == ValueType::Undefined {
            continue;
        }
        opts.set(Lang::Node, &name, value(&v)?).map_err(|e| error::to_js(env, &e))?;
    }
    Ok(opts)
}

/// A hash function argument (`signDigest(digest, hashFunc)`), given as a name or Go's
/// `crypto.Hash` number, checked as the `hashFunc` option is.
pub fn hash_func(env: &Env, given: &Unknown<'_>) -> napi::Result<HashFunc> {
    let mut opts = Options::default();
    opts.set(Lang::Node, "hashFunc", value(given)?).map_err(|mut e| {
        if let sigstore_kms_plugins::Error::InvalidOption { option, .. } = &mut e {
            // An argument, not a property of the options object.
            "hashFunc".clone_into(option);
        }
        error::to_js(env, &e)
    })?;
    Ok(opts.get_hash_func())
}

/// One language's spelling of an option.
#[napi(object)]
pub struct OptionSpelling {
    /// Its name.
    pub name: String,
    /// What it accepts, as error messages say it.
    pub accepts: String,
    /// Its default, as the language writes it.
    pub default: String,
}

/// An option as every language spells it: a row of the core's table (docs/options.md).
#[napi(object)]
pub struct OptionSpec {
    /// What it does.
    pub meaning: String,
    /// The Rust setter.
    pub rust: OptionSpelling,
    /// The Python keyword argument.
    pub python: OptionSpelling,
    /// The Node option property.
    pub node: OptionSpelling,
    /// The CLI flag, if the CLI has it.
    pub cli: Option<OptionSpelling>,
}

fn spelling(s: &Spelling) -> OptionSpelling {
    OptionSpelling { name: s.name.to_owned(), accepts: s.accepts.to_owned(), default: s.default.to_owned() }
}

/// The core's option table: every option, as every language spells it.
#[napi]
#[must_use]
pub fn option_table() -> Vec<OptionSpec> {
    OPTIONS
        .iter()
        .map(|o| OptionSpec {
            meaning: o.meaning.to_owned(),
            rust: spelling(&o.rust),
            python: spelling(&o.python),
            node: spelling(&o.node),
            cli: o.cli.as_ref().map(spelling),
        })
        .collect()
}

/// The core's default timeout, in milliseconds.
#[napi]
#[must_use]
pub fn default_timeout_ms() -> f64 {
    DEFAULT_TIMEOUT.as_secs_f64() * 1000.0
}

/// The core's default cap on a plugin's stdout, in bytes.
#[napi]
#[must_use]
pub fn default_stdout_limit() -> u32 {
    u32::try_from(DEFAULT_STDOUT_LIMIT).unwrap_or(u32::MAX)
}
