//! What `wasm-tools component wit` prints, without wasm-tools: the WIT a
//! built component carries, and a check that its `agents` interface is the
//! one in `wit/`.

use anyhow::{Context as _, anyhow};
use wit_component::WitPrinter;
use wit_parser::{PackageId, Resolve};

/// The WIT of a component binary: its own world's package first, then every
/// package it uses, as `wasm-tools component wit` prints them.
pub fn component_wit(component: &[u8]) -> anyhow::Result<String> {
    let decoded = wit_parser::decoding::decode(component).context("not a component")?;
    let resolve = decoded.resolve();
    let main = decoded.package();
    let nested: Vec<PackageId> = resolve
        .packages
        .iter()
        .map(|(id, _)| id)
        .filter(|id| *id != main)
        .collect();
    let mut printer = WitPrinter::default();
    printer.print(resolve, main, &nested)?;
    Ok(printer.output.to_string())
}

/// The `agents` interface, printed without docs, from a resolve.
fn agents_interface(resolve: &Resolve) -> anyhow::Result<String> {
    let pkg = resolve
        .packages
        .iter()
        .find(|(_, p)| p.name.namespace == "gladly" && p.name.name == "provisioning")
        .map(|(id, _)| id)
        .ok_or_else(|| anyhow!("no gladly:provisioning package"))?;
    let mut printer = WitPrinter::default();
    printer.emit_docs(false);
    printer.print(resolve, pkg, &[])?;
    let text = printer.output.to_string();
    let start = text
        .find("interface agents {")
        .ok_or_else(|| anyhow!("no interface agents"))?;
    let end = text[start..]
        .find("\n}")
        .map(|e| start + e + 2)
        .unwrap_or(text.len());
    Ok(text[start..end].to_string())
}

/// Checks that the component exports the `agents` interface exactly as the
/// WIT files in `wit_dir` declare it; the error shows both when not.
pub fn check_matches(component: &[u8], wit_dir: &std::path::Path) -> anyhow::Result<()> {
    let decoded = wit_parser::decoding::decode(component).context("not a component")?;
    let built = agents_interface(decoded.resolve())?;
    let mut source = Resolve::default();
    source
        .push_dir(wit_dir)
        .with_context(|| format!("cannot read {}", wit_dir.display()))?;
    let declared = agents_interface(&source)?;
    if built != declared {
        return Err(anyhow!(
            "the component's agents interface differs from {}:\n--- built\n{built}\n--- declared\n{declared}",
            wit_dir.display()
        ));
    }
    Ok(())
}
