//! Python values → the core's option vocabulary. Every check is the core's
//! ([`Options::set`] with [`Lang::Python`]); this file only says what kind of Python value each
//! argument is.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use sigstore_kms_plugins::{
    HashFunc, Lang, OptionValue, Options, Spelling, DEFAULT_STDOUT_LIMIT, DEFAULT_TIMEOUT, OPTIONS,
};

use crate::error;

/// `value` as the core takes option values.
pub fn value(value: &Bound<'_, PyAny>) -> PyResult<OptionValue> {
    if value.is_none() {
        return Ok(OptionValue::Null);
    }
    if value.is_instance_of::<PyBool>() {
        return Ok(OptionValue::Bool(value.extract()?));
    }
    if value.is_instance_of::<PyInt>() {
        return Ok(match value.extract::<i128>() {
            Ok(n) => OptionValue::Int(n),
            Err(_) => OptionValue::BigInt(value.str()?.to_string()),
        });
    }
    if value.is_instance_of::<PyFloat>() {
        return Ok(OptionValue::Float(value.extract()?));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(text.to_cow().map_or(OptionValue::BadText, |t| OptionValue::Text(t.into_owned())));
    }
    if value.hasattr("__fspath__")? {
        return Ok(value.extract::<PathBuf>().map_or(OptionValue::BadText, |p| OptionValue::Path(p.into())));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut dirs = Vec::new();
        for item in value.try_iter()? {
            match item?.extract::<PathBuf>() {
                Ok(dir) => dirs.push(dir.into()),
                Err(_) => return Ok(OptionValue::Other("a list holding something that is not a path".into())),
            }
        }
        return Ok(OptionValue::List(dirs));
    }
    // A datetime.timedelta (or anything with total_seconds): a number of seconds.
    if value.hasattr("total_seconds")? {
        if let Ok(seconds) = value.call_method0("total_seconds")?.extract::<f64>() {
            return Ok(OptionValue::Float(seconds));
        }
    }
    Ok(OptionValue::Other(format!("a {}", value.get_type().name()?)))
}

/// Sets `name` from a Python value; an invalid one raises `TypeError` or `ValueError` naming it.
pub fn set(py: Python<'_>, options: &mut Options, name: &str, given: &Bound<'_, PyAny>) -> PyResult<()> {
    options.set(Lang::Python, name, value(given)?).map_err(|e| error::to_py_err(py, e))
}

/// A hash function given as a name, Go's `crypto.Hash` number, or a `HashFunc`, checked as the
/// `hash_func` option.
pub fn hash_func(given: &Bound<'_, PyAny>) -> PyResult<HashFunc> {
    let mut options = Options::default();
    set(given.py(), &mut options, "hash_func", given)?;
    Ok(options.get_hash_func())
}

/// `parse_hash_func(value) -> int`: Go's number for a hash name, number or `HashFunc`.
#[pyfunction]
fn parse_hash_func(value: &Bound<'_, PyAny>) -> PyResult<u32> {
    hash_func(value).map(HashFunc::number)
}

/// `hash_func_info(number) -> (name, go_name, digest_size | None)`.
#[pyfunction]
fn hash_func_info(number: u64) -> PyResult<(&'static str, &'static str, Option<usize>)> {
    let h = HashFunc::from_number(number).ok_or_else(|| {
        pyo3::exceptions::PyValueError::new_err(format!("unknown hash function number {number} (0 to 19)"))
    })?;
    Ok((h.name(), h.go_name(), h.digest_len()))
}

fn spelling<'py>(py: Python<'py>, s: &Spelling) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", s.name)?;
    d.set_item("accepts", s.accepts)?;
    d.set_item("default", s.default)?;
    Ok(d)
}

/// `option_table() -> list[dict]`: the core's option table, every language's spelling.
#[pyfunction]
fn option_table(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    OPTIONS
        .iter()
        .map(|o| {
            let d = PyDict::new(py);
            d.set_item("meaning", o.meaning)?;
            for lang in Lang::ALL {
                d.set_item(lang.as_str(), o.spelling(lang).map(|s| spelling(py, s)).transpose()?)?;
            }
            Ok(d)
        })
        .collect()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_hash_func, m)?)?;
    m.add_function(wrap_pyfunction!(hash_func_info, m)?)?;
    m.add_function(wrap_pyfunction!(option_table, m)?)?;
    m.add("DEFAULT_TIMEOUT", DEFAULT_TIMEOUT.as_secs_f64())?;
    m.add("DEFAULT_STDOUT_LIMIT", DEFAULT_STDOUT_LIMIT)?;
    Ok(())
}
