//! `#[quarry_test]`: marks a function as a trial of the `quarry` integration
//! test binary (`tests/quarry/main.rs`).
//!
//! That binary runs under libtest-mimic (`harness = false`), which takes a
//! list of trials instead of collecting `#[test]` functions, so the attribute
//! does the collecting: it leaves the function as written (rustfmt formats it
//! like any other) and adds an `inventory::submit!` of a
//! `crate::harness::Test` that names it. `main` makes every submitted test a
//! trial named `module::function`, as libtest named it.
//!
//! | function      | how it runs                                                       |
//! |---------------|-------------------------------------------------------------------|
//! | `async fn`    | on a multi-thread Tokio runtime with two workers, as `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` ran it |
//! | `fn`          | called on the trial's thread                                      |
//!
//! A test that panics fails; one that returns normally passes. Forgetting the
//! attribute cannot go unnoticed: the trial `harness::every_test_is_a_trial`
//! fails when a file holds a `#[test]` or `#[tokio::test]`, or a different
//! number of `#[quarry_test]` functions than were registered.
//!
//! Written without `syn`: all the attribute needs is the function's name and
//! whether it is `async`.

use proc_macro::{Delimiter, TokenStream, TokenTree};

/// Registers the function it is on as a trial; see the crate docs.
#[proc_macro_attribute]
pub fn quarry_test(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return compile_error("#[quarry_test] takes no arguments");
    }
    let mut is_async = false;
    let mut name = None;
    let mut tokens = item.clone().into_iter();
    // Attributes are `#` followed by a bracket group, whose contents are not
    // visited; the first `fn` at this level is the function's.
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Ident(ident) if ident.to_string() == "async" => is_async = true,
            TokenTree::Ident(ident) if ident.to_string() == "fn" => {
                if let Some(TokenTree::Ident(ident)) = tokens.next() {
                    name = Some(ident.to_string());
                }
                break;
            }
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => break,
            _ => {}
        }
    }
    let Some(name) = name else {
        return compile_error("#[quarry_test] goes on a function");
    };
    let run = if is_async {
        format!("crate::harness::run_async({name}())")
    } else {
        format!("{name}()")
    };
    let registration = format!(
        "::inventory::submit! {{
            crate::harness::Test {{
                module: ::core::module_path!(),
                name: \"{name}\",
                run: || {run},
            }}
        }}"
    );
    let mut out = item;
    match registration.parse::<TokenStream>() {
        Ok(tokens) => out.extend(tokens),
        Err(e) => return compile_error(&format!("#[quarry_test]: {e}")),
    }
    out
}

fn compile_error(message: &str) -> TokenStream {
    format!("::core::compile_error!({message:?});")
        .parse()
        .expect("a compile_error! invocation is valid Rust")
}
