//! Every malformed netlist gives a typed error naming file, line, column, the offending
//! text and a hint; never a panic. One test per case, netlists in tests/bad_netlists/.

use std::path::PathBuf;

use dfcsim::elaborate::{ErrorKind, NetlistError, load};

fn bad(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/bad_netlists")
        .join(file)
}

/// Load, expect an error of `kind` at `line:col` (in `in_file`) about `text`.
fn expect(file: &str, kind: ErrorKind, line: u32, col: u32, text: &str) -> NetlistError {
    expect_in(file, file, kind, line, col, text)
}

fn expect_in(
    file: &str,
    in_file: &str,
    kind: ErrorKind,
    line: u32,
    col: u32,
    text: &str,
) -> NetlistError {
    let err = match load(&bad(file)) {
        Ok(_) => panic!("{file}: loaded without error"),
        Err(e) => e,
    };
    let shown = err.to_string();
    assert_eq!(err.kind, kind, "{file}: {shown}");
    assert!(
        err.span.file.ends_with(in_file),
        "{file}: error in {} \n{shown}",
        err.span.file.display()
    );
    assert_eq!(
        (err.span.line, err.span.col),
        (line, col),
        "{file}: {shown}"
    );
    assert_eq!(err.text, text, "{file}: {shown}");
    assert!(!err.message.is_empty() && !err.hint.is_empty(), "{shown}");
    // Display: `path:line:col: error: message`, the source line, the hint.
    let head = format!(
        "{}:{line}:{col}: error: {}",
        err.span.file.display(),
        err.message
    );
    assert!(shown.starts_with(&head), "{shown}");
    assert!(
        shown.contains(&format!("\n   {line} | ")),
        "source line missing: {shown}"
    );
    assert!(shown.contains("= hint: "), "{shown}");
    err
}

#[test]
fn unknown_element() {
    let e = expect("unknown_element.cir", ErrorKind::UnknownElement, 4, 1, "Q1");
    let shown = e.to_string();
    assert!(
        shown.contains("unknown_element.cir:4:1: error: unknown element type 'Q1'\n   4 | Q1 b c 0 qmod\n     = hint: "),
        "{shown}"
    );
}

#[test]
fn missing_node() {
    expect("missing_node.cir", ErrorKind::MissingNode, 3, 7, "10k");
}

#[test]
fn missing_node_of_instance() {
    let e = expect(
        "missing_node_instance.cir",
        ErrorKind::MissingNode,
        7,
        1,
        "x1",
    );
    assert!(e.message.contains("top mid bot"), "{e}");
}

#[test]
fn bad_number() {
    expect("bad_number.cir", ErrorKind::BadNumber, 4, 8, "1.5.2u");
}

#[test]
fn bad_number_in_param() {
    expect("bad_number_param.cir", ErrorKind::BadNumber, 2, 15, "3..3n");
}

#[test]
fn subckt_without_ends() {
    expect(
        "unbalanced_subckt.cir",
        ErrorKind::UnbalancedSubckt,
        2,
        1,
        ".subckt amp",
    );
}

#[test]
fn ends_without_subckt() {
    expect(
        "unbalanced_ends.cir",
        ErrorKind::UnbalancedSubckt,
        4,
        1,
        ".ends",
    );
}

#[test]
fn undefined_parameter() {
    expect(
        "undefined_param.cir",
        ErrorKind::UndefinedParam,
        4,
        9,
        "rload",
    );
}

#[test]
fn undefined_model() {
    expect(
        "undefined_model.cir",
        ErrorKind::UndefinedModel,
        6,
        14,
        "xbar_missing",
    );
}

#[test]
fn undefined_subcircuit() {
    expect(
        "undefined_subckt.cir",
        ErrorKind::UndefinedSubckt,
        4,
        8,
        "opamp_missing",
    );
}

#[test]
fn include_cycle() {
    let e = expect_in(
        "include_cycle.cir",
        "include_cycle_b.inc",
        ErrorKind::IncludeCycle,
        3,
        10,
        "include_cycle.cir",
    );
    assert!(e.message.contains("include_cycle_b.inc"), "{e}");
}

#[test]
fn missing_include() {
    expect(
        "missing_include.cir",
        ErrorKind::MissingInclude,
        3,
        10,
        "no_such_dir/models.lib",
    );
}

#[test]
fn recursive_subcircuit() {
    let e = expect(
        "recursive_subckt.cir",
        ErrorKind::RecursiveSubckt,
        8,
        11,
        "stage_a",
    );
    assert!(e.message.contains("stage_a -> stage_b -> stage_a"), "{e}");
}

#[test]
fn floating_node() {
    let e = expect("floating_node.cir", ErrorKind::FloatingNode, 4, 6, "c");
    assert!(e.message.contains("floating: c, d"), "{e}");
}

#[test]
fn voltage_source_loop() {
    let e = expect("voltage_loop.cir", ErrorKind::VoltageLoop, 6, 1, "v2");
    assert!(e.message.contains("l1, e1, v2"), "{e}");
}

#[test]
fn unclosed_brace() {
    expect("unclosed_brace.cir", ErrorKind::Syntax, 4, 8, "{r0*2");
}

#[test]
fn unknown_card() {
    expect(
        "unknown_card.cir",
        ErrorKind::UnknownCard,
        4,
        1,
        ".frobnicate",
    );
}

#[test]
fn undefined_control_source() {
    expect(
        "undefined_control.cir",
        ErrorKind::UndefinedElement,
        4,
        8,
        "vsense",
    );
}

#[test]
fn bad_expression() {
    let e = expect(
        "bad_expression.cir",
        ErrorKind::Syntax,
        4,
        27,
        "2 * tanh(v(a) +)",
    );
    assert!(e.message.ends_with("near ')'"), "{e}");
}

#[test]
fn parameter_cycle() {
    let e = expect(
        "param_cycle.cir",
        ErrorKind::UndefinedParam,
        3,
        12,
        "{2 * a}",
    );
    assert!(e.message.contains("depends on itself"), "{e}");
}

#[test]
fn missing_file() {
    let e = load(&bad("does_not_exist.cir")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
}

#[test]
fn duplicate_element_name() {
    expect("duplicate_name.cir", ErrorKind::DuplicateName, 4, 1, "r1");
}

#[test]
fn unsupported_analysis() {
    expect(
        "unsupported_analysis.cir",
        ErrorKind::Unsupported,
        4,
        1,
        ".ac",
    );
}

#[test]
fn pwl_times_must_not_decrease() {
    expect("pwl_decreasing.cir", ErrorKind::BadValue, 2, 21, "1m");
}

#[test]
fn ic_on_unknown_node() {
    expect("unknown_ic_node.cir", ErrorKind::UnknownNode, 5, 7, "c");
}

#[test]
fn expression_nested_too_deeply() {
    let e = expect(
        "too_deep.cir",
        ErrorKind::TooLarge,
        3,
        9,
        "((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))",
    );
    assert!(e.message.contains("nested too deeply"), "{e}");
}

#[test]
fn trnoise_flicker_is_rejected() {
    let e = expect("trnoise_flicker.cir", ErrorKind::Unsupported, 3, 29, "5m");
    assert!(e.message.contains("1/f"), "{e}");
}

#[test]
fn trnoise_negative_step() {
    expect(
        "trnoise_negative_step.cir",
        ErrorKind::BadValue,
        3,
        19,
        "-1u",
    );
}

#[test]
fn trnoise_needs_amplitude_and_step() {
    let e = expect("trnoise_arity.cir", ErrorKind::Syntax, 3, 1, "i1");
    assert!(e.message.contains("TRNOISE takes 2 to 7 values"), "{e}");
}
