//! `#[arbor::main]` and `#[arbor::test]`: run an `async fn` on a fresh arbor
//! runtime; and `#[derive(arbor::Outcome)]`, a type a nursery child may
//! return as a plain value.
//!
//! Use them through the `arbor` crate, which re-exports both (its docs have
//! the compiled examples; this crate cannot depend on `arbor`, which
//! depends on it):
//!
//! ```text
//! #[arbor::main]
//! async fn main() -> std::io::Result<()> { ... }
//!
//! #[arbor::test(virtual_clock)]
//! async fn an_hour_passes_at_once() { ... }
//! ```
//!
//! Options, in the parentheses, comma-separated, each at most once:
//!
//! - `virtual_clock`: build the runtime with `Builder::virtual_clock()`.
//! - `crate = "path"`: where the `arbor` crate is, for crates that
//!   re-export it (default `::arbor`).
//! - `autojump = "10ms"`: a virtual clock that jumps to the next timer
//!   only after every task has been blocked for that long in real time
//!   with nothing arriving (`Builder::autojump`), so real sockets and
//!   worker threads keep up with timeouts.
//!
//! - `seed = N`: build the runtime with `Builder::seed(N)`, which polls
//!   the tasks of each scheduler tick in an order drawn from `N` instead
//!   of FIFO. In a test, a failure prints the seed.
//! - `seeds = N` (tests only): run the test `N` times, each on a fresh
//!   runtime seeded `0`, `1`, ..., `N - 1`, stopping at the first run
//!   that panics or returns `Err`, whose seed it prints to stderr
//!   (`arbor: failed with seed 3; replay with ARBOR_SEED=3`).
//!
//! `seed` and `seeds` exclude each other. With `ARBOR_SEED=S` in the
//! environment, a `seed` or `seeds` test runs once, under seed `S` only.

#![warn(missing_docs)]

mod outcome;

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, LitInt, LitStr, Path, ReturnType, Token, Type};

/// Runs an `async fn main` on a new arbor runtime.
///
/// The function becomes a plain `fn` with the same name, visibility and
/// return type whose body builds a runtime and `block_on`s the original
/// body, so `main` may return what a `main` may return (`()`,
/// `Result<(), E>`, ...), and `?` in the body converts errors to that
/// type. It must not take arguments or be generic or `const`.
///
/// ```text
/// #[arbor::main]
/// async fn main() -> std::io::Result<()> {
///     let listener = arbor::net::TcpListener::bind("127.0.0.1:0")?;
///     ...
/// }
/// ```
///
/// Options: `virtual_clock` (time moves only when every task is blocked;
/// see `Builder::virtual_clock`), `autojump = "10ms"` (a virtual clock
/// that jumps only after every task has been blocked that long in real
/// time; see `Builder::autojump`), `crate = "path"` (where `arbor` is, if
/// not at `::arbor`), `seed = N` (a seeded schedule; see `Builder::seed`).
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on a new arbor runtime.
///
/// Emits `#[test]` (other attributes such as `#[should_panic]` and
/// `#[ignore]` are kept and work as usual) on a plain `fn` whose body
/// builds a runtime and `block_on`s the original body; one runtime per
/// test, dropped with everything left in it when the test ends. The test
/// may return `Result<(), E>` like any test. It must not take arguments
/// or be generic or `const`.
///
/// ```text
/// #[arbor::test(virtual_clock)]
/// async fn an_hour_passes_at_once() {
///     let t0 = arbor::time::now();
///     arbor::time::sleep(std::time::Duration::from_secs(3600)).await;
///     assert_eq!(arbor::time::now() - t0, std::time::Duration::from_secs(3600));
/// }
/// ```
///
/// Options: `virtual_clock`, `autojump = "10ms"`, `crate = "path"`,
/// `seed = N`, as for `#[arbor::main]`, and `seeds = N`: run the body
/// under the seeds `0..N`, a fresh runtime each, until one fails; that
/// seed is printed (`arbor: failed with seed 3; replay with
/// ARBOR_SEED=3`) and the failure is the test's. `ARBOR_SEED=3` in the
/// environment makes a `seed` or `seeds` test run seed 3 alone. A
/// `seeds` test returns `()` or a `Result`. The real clock is the default, as for
/// `#[arbor::main]`, `arbor::run` and `Runtime::new`: `virtual_clock`
/// jumps to the next timer whenever every task is blocked, including
/// blocked on a socket, a child process or a `to_thread` job, so a
/// timeout around real I/O would fire at once. Tests that only wait on
/// timers and each other should ask for it; tests that mix timeouts with
/// real I/O or threads want `autojump`, which jumps only after a real-time
/// threshold with nothing arriving.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args.into(), item.into()).into()
}

/// Makes a type a plain nursery outcome: a child or body returning it
/// always succeeds with it as the value (`impl Outcome` with
/// `Value = Self`). `#[arbor(crate = "path")]` names where `arbor` is, if
/// not at `::arbor`.
///
/// ```text
/// #[derive(arbor::Outcome)]
/// struct Report { lines: usize }
///
/// let report = arbor::nursery(async |n| {
///     n.spawn(async { Report { lines: 3 } }).await.unwrap()
/// }).await?;
/// ```
#[proc_macro_derive(Outcome, attributes(arbor))]
pub fn derive_outcome(item: TokenStream) -> TokenStream {
    outcome::expand(item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Main => "`#[arbor::main]`",
            Kind::Test => "`#[arbor::test]`",
        }
    }
}

const ACCEPTED: &str = "accepted options: `virtual_clock`, `autojump = \"10ms\"`, \
                        `crate = \"path\"`, `seed = N`, `seeds = N` (tests only)";

/// The schedules to run the body under (`Builder::seed`).
#[derive(Clone, Copy)]
enum Seeds {
    /// `seed = N`: that one.
    One(u64),
    /// `seeds = N`: `0..N`, one run each.
    Count(u64),
}

struct Options {
    virtual_clock: bool,
    seeds: Option<Seeds>,
    /// The autojump threshold in nanoseconds (implies the virtual clock).
    autojump: Option<u64>,
    krate: Option<Path>,
}

/// A duration written as a number and a unit: `"10ms"`, `"1s"`,
/// `"250us"`, `"0ns"` (a plain number is not accepted: the unit is what
/// makes the threshold readable).
fn parse_duration_nanos(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let scale: u64 = match unit.trim() {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        _ => return None,
    };
    number.checked_mul(scale)
}

/// The literal after an option's `=`; `wants` (what to write) is the
/// error when there is no `=` or no literal of that kind.
fn option_value<L: syn::parse::Parse>(
    meta: &syn::meta::ParseNestedMeta<'_>,
    wants: &str,
) -> syn::Result<L> {
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(wants));
    }
    meta.value()
        .and_then(|value| value.parse())
        .map_err(|e| syn::Error::new(e.span(), wants))
}

fn parse_options(kind: Kind, args: TokenStream2) -> syn::Result<Options> {
    let mut virtual_clock = false;
    let mut seeds: Option<Seeds> = None;
    let mut autojump: Option<u64> = None;
    let mut krate: Option<Path> = None;
    // Whether the error is one of ours, which already say what to write.
    let mut ours = false;
    let parser = syn::meta::parser(|meta| {
        let path = &meta.path;
        let err = |msg: String| Err(meta.error(msg));
        ours = true;
        if path.is_ident("virtual_clock") {
            if virtual_clock {
                return err("`virtual_clock` is given twice".into());
            }
            if !(meta.input.is_empty() || meta.input.peek(Token![,])) {
                return err("`virtual_clock` takes no value: write `virtual_clock`".into());
            }
            virtual_clock = true;
        } else if path.is_ident("crate") {
            if krate.is_some() {
                return err("`crate` is given twice".into());
            }
            let wants = "`crate` wants a path in a string, as in `crate = \"my::arbor\"`";
            let lit: LitStr = option_value(&meta, wants)?;
            krate = Some(
                lit.parse()
                    .map_err(|_| syn::Error::new(lit.span(), wants))?,
            );
        } else if path.is_ident("seed") || path.is_ident("seeds") {
            let many = path.is_ident("seeds");
            let name = if many { "seeds" } else { "seed" };
            if let Some(given) = seeds {
                let other = match given {
                    Seeds::One(_) => "seed",
                    Seeds::Count(_) => "seeds",
                };
                return err(if other == name {
                    format!("`{name}` is given twice")
                } else {
                    "`seed` and `seeds` together: `seed = N` runs one schedule, \
                     `seeds = N` runs N; give one of them"
                        .into()
                });
            }
            if many && kind == Kind::Main {
                return err(
                    "`seeds` runs a test under several schedules; a `main` runs \
                            once: use `seed = N`"
                        .into(),
                );
            }
            let wants = if many {
                "`seeds` wants a number of runs, as in `seeds = 100`"
            } else {
                "`seed` wants an unsigned 64-bit integer, as in `seed = 12345`"
            };
            let lit: LitInt = option_value(&meta, wants)?;
            let n: u64 = lit
                .base10_parse()
                .map_err(|_| syn::Error::new(lit.span(), wants))?;
            if many && n == 0 {
                return Err(syn::Error::new(
                    lit.span(),
                    "`seeds = 0` would run the test under no schedule: ask for at least 1",
                ));
            }
            seeds = Some(if many { Seeds::Count(n) } else { Seeds::One(n) });
        } else if path.is_ident("autojump") {
            if autojump.is_some() {
                return err("`autojump` is given twice".into());
            }
            let wants = "`autojump` wants a duration in a string, as in `autojump = \"10ms\"` \
                         (units: ns, us, ms, s)";
            let lit: LitStr = option_value(&meta, wants)?;
            autojump = Some(
                parse_duration_nanos(&lit.value())
                    .ok_or_else(|| syn::Error::new(lit.span(), wants))?,
            );
        } else {
            let name = quote!(#path).to_string().replace(' ', "");
            return err(format!("unknown option `{name}`; {ACCEPTED}"));
        }
        ours = false;
        Ok(())
    });
    parser.parse2(args).map_err(|e| {
        // syn's own messages (a literal where an option belongs, a missing
        // comma) do not say what is accepted.
        if ours {
            e
        } else {
            syn::Error::new(e.span(), format!("{e}; {ACCEPTED}"))
        }
    })?;
    Ok(Options {
        virtual_clock,
        seeds,
        autojump,
        krate,
    })
}

/// Every misuse of the function itself, combined so that one compile
/// shows them all.
fn check_fn(kind: Kind, f: &ItemFn) -> syn::Result<()> {
    let mut errors: Option<syn::Error> = None;
    // `new_spanned`: on stable a span cannot be joined, so an error made
    // from one span would underline only the first token.
    let mut push = |tokens: &dyn quote::ToTokens, msg: String| {
        let e = syn::Error::new_spanned(tokens, msg);
        match &mut errors {
            Some(all) => all.combine(e),
            None => errors = Some(e),
        }
    };
    let sig = &f.sig;
    if sig.asyncness.is_none() {
        push(
            &sig.fn_token,
            "the `async` keyword is missing from the function declaration".into(),
        );
    }
    if let Some(c) = &sig.constness {
        push(c, format!("{} cannot be used on a `const fn`", kind.attr()));
    }
    let generics = &sig.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        let tokens: &dyn quote::ToTokens = match &generics.where_clause {
            Some(w) if generics.params.is_empty() => w,
            _ => generics,
        };
        push(
            tokens,
            format!("a {} function cannot be generic", kind.attr()),
        );
    }
    if !sig.inputs.is_empty() {
        let msg = match kind {
            Kind::Main => "the `main` function cannot accept arguments".to_string(),
            Kind::Test => "a test function cannot take arguments".to_string(),
        };
        push(&sig.inputs, msg);
    }
    if kind == Kind::Test {
        for attr in &f.attrs {
            if attr
                .path()
                .segments
                .last()
                .is_some_and(|s| s.ident == "test")
            {
                push(
                    attr,
                    "a second test attribute: `#[arbor::test]` already emits `#[test]`; \
                     remove this one"
                        .into(),
                );
            }
        }
    }
    errors.map_or(Ok(()), Err)
}

fn expand(kind: Kind, args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let f: ItemFn = match syn::parse2(item) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("{} applies to an `async fn`: {e}", kind.attr());
            return syn::Error::new(e.span(), msg).to_compile_error();
        }
    };
    let options = parse_options(kind, args);
    let checked = check_fn(kind, &f);
    match (options, checked) {
        (Ok(options), Ok(())) => generate(kind, options, f),
        (Err(mut a), Err(b)) => {
            a.combine(b);
            error_output(kind, &f, a)
        }
        (Err(e), _) | (_, Err(e)) => error_output(kind, &f, e),
    }
}

/// The errors, plus an empty `fn main` when `main` was the misused
/// function, so the crate's only complaint is ours and not also "`main`
/// function not found".
fn error_output(kind: Kind, f: &ItemFn, e: syn::Error) -> TokenStream2 {
    let err = e.to_compile_error();
    if kind == Kind::Main && f.sig.ident == "main" {
        quote! { #err fn main() {} }
    } else {
        err
    }
}

fn generate(kind: Kind, options: Options, f: ItemFn) -> TokenStream2 {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = f;
    sig.asyncness = None;
    let krate = options
        .krate
        .map_or_else(|| quote!(::arbor), |p| quote!(#p));
    let builder = match (options.autojump, options.virtual_clock) {
        (Some(nanos), _) => quote!(
            #krate::Runtime::builder().autojump(::core::time::Duration::from_nanos(#nanos))
        ),
        (None, true) => quote!(#krate::Runtime::builder().virtual_clock()),
        (None, false) => quote!(#krate::Runtime::builder()),
    };
    let what = kind.attr();
    // An async block's output is inferred from its own returns, so a `?`
    // in it could not know the error type to convert to: naming the
    // function's return type as the future's output tells it. Skipped for
    // `impl Trait` and `!`, which cannot be named there.
    let annotate = match &sig.output {
        ReturnType::Default => Some(quote!(())),
        ReturnType::Type(_, ty) => match &**ty {
            Type::ImplTrait(_) | Type::Never(_) => None,
            ty => Some(quote!(#ty)),
        },
    };
    // The body, spanned at the block, so a type error in what it returns
    // points there rather than at the attribute.
    let body = Ident::new("body", Span::mixed_site());
    let run = match (kind, options.seeds) {
        // A test under seeds: a fresh runtime and future per seed, the
        // failing seed printed (`ARBOR_SEED` replays it).
        (Kind::Test, Some(seeds)) => {
            let (first, count) = match seeds {
                Seeds::One(seed) => (seed, 1u64),
                Seeds::Count(n) => (0, n),
            };
            let make = match &annotate {
                Some(output) => quote_spanned! {block.span()=>
                    || -> ::core::pin::Pin<
                        ::std::boxed::Box<dyn ::core::future::Future<Output = #output>>,
                    > { ::std::boxed::Box::pin(async #block) }
                },
                None => quote_spanned! {block.span()=> || async #block },
            };
            quote_spanned! {block.span()=>
                #krate::__macro_support::run_seeded(#what, #first, #count, || #builder, #make)
            }
        }
        (_, seeds) => {
            let seed = match seeds {
                Some(Seeds::One(seed)) => Some(quote!(.seed(#seed))),
                _ => None,
            };
            let pinned = annotate.map(|output| {
                quote! {
                    let #body = ::core::pin::pin!(#body);
                    let #body: ::core::pin::Pin<
                        &mut dyn ::core::future::Future<Output = #output>,
                    > = #body;
                }
            });
            let run = quote_spanned! {block.span()=>
                #builder
                    #seed
                    .build()
                    .unwrap_or_else(|e| ::core::panic!("{} could not build its runtime: {}", #what, e))
                    .block_on(#body)
            };
            quote! {
                let #body = async #block;
                #pinned
                #run
            }
        }
    };
    let test_attr = (kind == Kind::Test).then(|| quote!(#[::core::prelude::v1::test]));
    quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            #run
        }
    }
}
