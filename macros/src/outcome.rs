//! `#[derive(Outcome)]`: a type that is always a successful nursery
//! outcome (a plain value).

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::{Generics, Ident, Item, LitStr, Path};

pub(crate) fn expand(item: TokenStream2) -> syn::Result<TokenStream2> {
    let item: Item = syn::parse2(item)?;
    let (ident, generics, attrs) = match &item {
        Item::Struct(s) => (&s.ident, &s.generics, &s.attrs),
        Item::Enum(e) => (&e.ident, &e.generics, &e.attrs),
        Item::Union(u) => (&u.ident, &u.generics, &u.attrs),
        other => {
            return Err(syn::Error::new_spanned(
                other,
                "`#[derive(Outcome)]` applies to a struct, an enum or a union",
            ));
        }
    };
    let mut krate: Path = syn::parse_quote!(::arbor);
    for attr in attrs.iter().filter(|a| a.path().is_ident("arbor")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                krate = lit.parse()?;
                Ok(())
            } else {
                Err(meta.error("the accepted option is `#[arbor(crate = \"path\")]`"))
            }
        })?;
    }
    Ok(plain_outcome(&krate, ident, generics))
}

/// `impl Outcome for Type<..>`: the value itself, never a failure.
fn plain_outcome(krate: &Path, ident: &Ident, generics: &Generics) -> TokenStream2 {
    let (impl_generics, type_generics, where_clause) = generics.split_for_impl();
    quote! {
        impl #impl_generics #krate::Outcome for #ident #type_generics #where_clause {
            type Value = Self;
            fn into_outcome(self) -> ::core::result::Result<Self, #krate::BoxError> {
                ::core::result::Result::Ok(self)
            }
        }
    }
}
