//! Netlist text to flat circuit: the language features, one test each.

use std::path::Path;

use dfcsim::circuit::{Analysis, ElementKind, Method, NodeId, ParamValue, Port, Save, Waveform};
use dfcsim::elaborate::{load_str, load_str_with_warnings};
use dfcsim::expr::{BinaryOp, Expr, Func};

fn load(text: &str) -> dfcsim::circuit::Circuit {
    match load_str(text, Path::new("test.cir")) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn kind<'a>(c: &'a dfcsim::circuit::Circuit, name: &str) -> &'a ElementKind {
    let idx = c
        .find_element(name)
        .unwrap_or_else(|| panic!("no element {name}; have {:?}", names(c)));
    &c.elements[idx].kind
}

fn names(c: &dfcsim::circuit::Circuit) -> Vec<&str> {
    c.elements.iter().map(|e| e.name.as_str()).collect()
}

fn node(c: &dfcsim::circuit::Circuit, name: &str) -> NodeId {
    c.find_node(name)
        .unwrap_or_else(|| panic!("no node {name}; have {:?}", c.nodes))
}

#[test]
fn rc_with_comments_continuation_suffixes_params() {
    let c = load(
        "* the title line, even though it starts with a star
* a comment
.PARAM rval = 10k  cval={1u/2}
V1 in 0 PULSE(0 5V 1m 0 0)   ; inline comment
R1 in out {rval}
+ m=2 $ another comment
C1 out 0
+ cval IC=0.5
.tran 10u 5m
.end
R2 this line is after .end and ignored
",
    );
    assert_eq!(
        c.title,
        "* the title line, even though it starts with a star"
    );
    assert_eq!(c.nodes, vec!["0", "in", "out"]);
    match kind(&c, "r1") {
        ElementKind::Resistor { ohms, .. } => assert_eq!(*ohms, 5e3),
        k => panic!("{k:?}"),
    }
    match kind(&c, "c1") {
        ElementKind::Capacitor { farads, ic, .. } => {
            assert_eq!(*farads, 0.5e-6);
            assert_eq!(*ic, Some(0.5));
        }
        k => panic!("{k:?}"),
    }
    // ngspice: zero or missing TR/TF -> tstep, PW/PER -> tstop (checked with ngspice 39).
    match kind(&c, "v1") {
        ElementKind::VoltageSource { wave, .. } => assert_eq!(
            *wave,
            Waveform::Pulse {
                v1: 0.0,
                v2: 5.0,
                td: 1e-3,
                tr: 10e-6,
                tf: 10e-6,
                pw: 5e-3,
                per: 5e-3,
                np: None
            }
        ),
        k => panic!("{k:?}"),
    }
    assert_eq!(
        c.analyses,
        vec![Analysis::Tran {
            tstep: 10e-6,
            tstop: 5e-3,
            tstart: 0.0,
            tmax: None,
            uic: false
        }]
    );
    assert_eq!(c.elements[0].span.line, 4);
    assert_eq!(c.elements[0].span.col, 1);
}

#[test]
fn hierarchical_names_follow_ngspice() {
    // ngspice 39 prints for this netlist: e.x1.e1#branch, v.x1.x2.v1#branch, x1.e, x1.x2.mid
    let c = load(
        "names
.subckt inner a b
r1 a mid 1k
v1 mid b 0
.ends
.subckt outer p q
x2 p q inner
r2 p q 2k
e1 e 0 p q 1
re e 0 1
.ends
x1 1 0 outer
v0 1 0 dc 1
r10 1 gnd 10u5
.op
",
    );
    assert_eq!(
        names(&c),
        vec![
            "r.x1.x2.r1",
            "v.x1.x2.v1",
            "r.x1.r2",
            "e.x1.e1",
            "r.x1.re",
            "v0",
            "r10"
        ]
    );
    assert_eq!(c.nodes, vec!["0", "1", "x1.x2.mid", "x1.e"]);
    match kind(&c, "r10") {
        ElementKind::Resistor { n, ohms, .. } => {
            assert!(n.is_ground());
            assert_eq!(*ohms, 1e-5);
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn subckt_parameters_defaults_overrides_and_forward_params() {
    let c = load(
        "params
.param b = {a*2}
.param a = 3
.subckt amp in out params: gain=10 rin={ 2*base }
.param base = 500
E1 out 0 in 0 {gain}
Rin in 0 rin
.ends
X1 i o1 amp
X2 i o2 amp gain=-b
X3 i o3 amp params: gain={b+1} rin=1meg
V1 i 0 1
R1 o1 0 1k
R2 o2 0 1k
R3 o3 0 1k
.op
",
    );
    let gain = |n: &str| match kind(&c, n) {
        ElementKind::Vcvs { gain, .. } => *gain,
        k => panic!("{k:?}"),
    };
    let rin = |n: &str| match kind(&c, n) {
        ElementKind::Resistor { ohms, .. } => *ohms,
        k => panic!("{k:?}"),
    };
    assert_eq!(gain("e.x1.e1"), 10.0);
    assert_eq!(gain("e.x2.e1"), -6.0);
    assert_eq!(gain("e.x3.e1"), 7.0);
    assert_eq!(rin("r.x1.rin"), 1000.0);
    assert_eq!(rin("r.x3.rin"), 1e6);
}

#[test]
fn behavioral_sources_resolve_nodes_currents_time() {
    let c = load(
        "b sources
.param k = 2
V1 a 0 SIN(0 1 1k)
Vs a b 0
R1 b 0 1k
B1 y 0 V = k*tanh(v(a) - v(a,b)) + i(Vs)*1k + (time > 1m ? 1 : 0)
Ry y 0 1k
G1 0 z VALUE={limit(v(y), -1, 1) * 1m}
Rz z 0 1k
E2 w 0 vol='pwr(v(z), 2)'
Rw w 0 1
.tran 1u 2m
",
    );
    let a = node(&c, "a");
    let b = node(&c, "b");
    let vs = c.find_element("vs").unwrap();
    match kind(&c, "b1") {
        ElementKind::BehavioralVoltage { expr, .. } => {
            let tanh = Expr::Call(
                Func::Tanh,
                vec![Expr::Binary(
                    BinaryOp::Sub,
                    Box::new(Expr::NodeV(a)),
                    Box::new(Expr::Binary(
                        BinaryOp::Sub,
                        Box::new(Expr::NodeV(a)),
                        Box::new(Expr::NodeV(b)),
                    )),
                )],
            );
            let want = Expr::Binary(
                BinaryOp::Add,
                Box::new(Expr::Binary(
                    BinaryOp::Add,
                    Box::new(Expr::Binary(
                        BinaryOp::Mul,
                        Box::new(Expr::Const(2.0)),
                        Box::new(tanh),
                    )),
                    Box::new(Expr::Binary(
                        BinaryOp::Mul,
                        Box::new(Expr::BranchI(vs)),
                        Box::new(Expr::Const(1e3)),
                    )),
                )),
                Box::new(Expr::Ternary(
                    Box::new(Expr::Binary(
                        BinaryOp::Gt,
                        Box::new(Expr::Time),
                        Box::new(Expr::Const(1e-3)),
                    )),
                    Box::new(Expr::Const(1.0)),
                    Box::new(Expr::Const(0.0)),
                )),
            );
            assert_eq!(*expr, want);
        }
        k => panic!("{k:?}"),
    }
    assert!(matches!(
        kind(&c, "g1"),
        ElementKind::BehavioralCurrent { .. }
    ));
    assert!(matches!(
        kind(&c, "e2"),
        ElementKind::BehavioralVoltage { .. }
    ));
    match kind(&c, "v1") {
        ElementKind::VoltageSource { wave, .. } => assert_eq!(
            *wave,
            Waveform::Sin {
                vo: 0.0,
                va: 1.0,
                freq: 1e3,
                td: 0.0,
                theta: 0.0,
                phase_deg: 0.0
            }
        ),
        k => panic!("{k:?}"),
    }
}

#[test]
fn controlled_sources_find_their_controls_in_subcircuits() {
    let c = load(
        "fh
.subckt sense a b o
Vm a b 0
F1 o 0 Vm 2
H1 h 0 vm 100
Rh h 0 1
.ends
I1 0 n 1m
R1 n m 1k
X1 m 0 out sense
Ro out 0 1k
G1 0 g n 0 1m
Rg g 0 1k
.op
",
    );
    let vm = c.find_element("v.x1.vm").unwrap();
    match kind(&c, "f.x1.f1") {
        ElementKind::Cccs { control, gain, .. } => {
            assert_eq!(*control, vm);
            assert_eq!(*gain, 2.0);
        }
        k => panic!("{k:?}"),
    }
    match kind(&c, "h.x1.h1") {
        ElementKind::Ccvs { control, ohms, .. } => {
            assert_eq!(*control, vm);
            assert_eq!(*ohms, 100.0);
        }
        k => panic!("{k:?}"),
    }
    match kind(&c, "g1") {
        ElementKind::Vccs { p, n, cp, cn, gm } => {
            assert!(p.is_ground());
            assert_eq!(*n, node(&c, "g"));
            assert_eq!(*cp, node(&c, "n"));
            assert!(cn.is_ground());
            assert_eq!(*gm, 1e-3);
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn sources_pwl_dc_ac_and_defaults() {
    let c = load(
        "sources
V1 a 0 DC 1.5 AC 1 0
V2 b 0 PWL(0 0 1m 1 2m 1) td=1m
V3 c 0 pwl 0 0 1u 1
V4 d 0 SIN(1 2 0 1m)
I1 0 e 2mA
R1 a 0 1
R2 b 0 1
R3 c 0 1
R4 d 0 1
R5 e 0 1
.tran 1u 4m uic
",
    );
    let wave = |n: &str| match kind(&c, n) {
        ElementKind::VoltageSource { wave, .. } | ElementKind::CurrentSource { wave, .. } => {
            wave.clone()
        }
        k => panic!("{k:?}"),
    };
    assert_eq!(wave("v1"), Waveform::Dc(1.5));
    assert_eq!(
        wave("v2"),
        Waveform::Pwl(vec![(1e-3, 0.0), (2e-3, 1.0), (3e-3, 1.0)])
    );
    assert_eq!(wave("v3"), Waveform::Pwl(vec![(0.0, 0.0), (1e-6, 1.0)]));
    match wave("v4") {
        Waveform::Sin { freq, td, .. } => {
            assert_eq!(freq, 250.0); // 1/tstop
            assert_eq!(td, 1e-3);
        }
        w => panic!("{w:?}"),
    }
    assert_eq!(wave("i1"), Waveform::Dc(2e-3));
}

#[test]
fn cards_options_ic_save_learn_models_arrays() {
    let c = load(
        "cards
.options reltol=1e-4 method=gear maxord=2 seed=42 interp abstol=1p itl4=20 foo=1
.option gmin=1e-15
.model xw1 crossbar(g=[1u 2u 3u 4u 5u 6u] rows=3 rule=hebb gmax={2*gm})
.model opa opamp a0=1e5
.param gm = 1e-5
A1 [r0 r1 r2] [i0 i1] xw1
A2 p n o opa
R0 r0 0 1k
R1 r1 0 1k
R2 r2 0 1k
Ri0 i0 0 1k
Ri1 i1 0 1k
Rp p 0 1
Rn n 0 1
Ro o 0 1
.ic v(r0)=0.25 V(o)=-1
.save v(r0) i1 i(vx) all
Vx r0 0 0
.learn dataset=mnist lambda=0.1 epochs=3 layers=[784 256 10]
.op
.tran 1n 1u 0 1n
",
    );
    let o = &c.options;
    assert_eq!(o.reltol, 1e-4);
    assert_eq!(o.method, Method::Gear);
    assert_eq!(o.seed, Some(42));
    assert!(o.interp);
    assert_eq!(o.abstol, 1e-12);
    assert_eq!(o.itl4, 20);
    assert_eq!(o.gmin, 1e-15);
    match kind(&c, "a1") {
        ElementKind::Array { ports, model } => {
            assert_eq!(
                *ports,
                vec![
                    Port::Vector(vec![node(&c, "r0"), node(&c, "r1"), node(&c, "r2")]),
                    Port::Vector(vec![node(&c, "i0"), node(&c, "i1")]),
                ]
            );
            assert_eq!(model.kind, "crossbar");
            assert_eq!(
                model.params["g"],
                ParamValue::Vec(vec![1e-6, 2e-6, 3e-6, 4e-6, 5e-6, 6e-6])
            );
            assert_eq!(model.params["rule"], ParamValue::Str("hebb".into()));
            assert_eq!(model.params["gmax"], ParamValue::Num(2e-5));
        }
        k => panic!("{k:?}"),
    }
    match kind(&c, "a2") {
        ElementKind::Array { ports, model } => {
            assert_eq!(ports.len(), 3);
            assert_eq!(model.params["a0"], ParamValue::Num(1e5));
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(c.models.len(), 2);
    assert_eq!(c.ics, vec![(node(&c, "r0"), 0.25), (node(&c, "o"), -1.0)]);
    let vx = c.find_element("vx").unwrap();
    assert_eq!(
        c.saves,
        vec![
            Save::Node(node(&c, "r0")),
            Save::Node(node(&c, "i1")),
            Save::Branch(vx),
            Save::All
        ]
    );
    assert_eq!(c.controls.len(), 1);
    assert_eq!(c.controls[0].name, "learn");
    assert_eq!(
        c.controls[0].args["dataset"],
        ParamValue::Str("mnist".into())
    );
    assert_eq!(c.controls[0].args["lambda"], ParamValue::Num(0.1));
    assert_eq!(
        c.controls[0].args["layers"],
        ParamValue::Vec(vec![784.0, 256.0, 10.0])
    );
    assert_eq!(c.analyses.len(), 2);
    assert_eq!(
        c.analyses[1],
        Analysis::Tran {
            tstep: 1e-9,
            tstop: 1e-6,
            tstart: 0.0,
            tmax: Some(1e-9),
            uic: false
        }
    );
}

#[test]
fn warnings_for_ignored_things() {
    let (_, w) = load_str_with_warnings(
        "w\n.options foo=1\nR1 a 0 0\nV1 a 0\n.meas tran x max v(a)\n.op\n",
        Path::new("w.cir"),
    )
    .unwrap();
    let text: Vec<String> = w.iter().map(|w| w.to_string()).collect();
    assert_eq!(text.len(), 4, "{text:?}");
    assert!(text[0].starts_with("w.cir:5:1: warning: .meas"), "{text:?}");
    assert!(text.iter().any(|t| t.contains("option 'foo'")));
    assert!(text.iter().any(|t| t.contains("resistance 0")));
}

#[test]
fn longest_accepted_expression_fits_a_default_thread_stack() {
    // 1990 operators (the limit is 2000) in a 2 MB test thread: a left-deep tree 1990 deep.
    let text = format!(
        "long\nV1 a 0 1\nB1 b 0 V=0{}\nR1 b 0 1\n.op\n",
        "+v(a)".repeat(1990)
    );
    let c = load(&text);
    assert_eq!(c.elements.len(), 3);
}

#[test]
fn include_and_lib_sections_relative_to_the_including_file() {
    let dir = std::env::temp_dir().join(format!("dfcsim-inc-{}", std::process::id()));
    let sub = dir.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(
        sub.join("models.lib"),
        "* library with two sections
.lib fast
.param rfast = 1k
.model opa opamp(a0=1e6)
.endl fast
.lib slow
.param rslow = 100k
.include ../common.inc
.endl
",
    )
    .unwrap();
    std::fs::write(
        dir.join("common.inc"),
        "* no title line in includes\nRc c 0 5\n",
    )
    .unwrap();
    std::fs::write(
        sub.join("amp.inc"),
        ".subckt buf in out\nE1 out 0 in 0 1\n.ends\n.lib 'models.lib' slow\n",
    )
    .unwrap();
    let main = dir.join("main.cir");
    let text = "includes
.include sub/amp.inc
.LIB \"sub/models.lib\" FAST
V1 c 0 1
X1 c o buf
R1 o 0 {rfast}
R2 o 0 {rslow}
A1 [c] [o] opa
.op
";
    std::fs::write(&main, text).unwrap();
    let c = dfcsim::elaborate::load(&main).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        names(&c),
        vec!["rc", "v1", "e.x1.e1", "r1", "r2", "a1"],
        "{:?}",
        c.elements
    );
    let rc = &c.elements[0];
    assert!(rc.span.file.ends_with("common.inc"));
    assert_eq!((rc.span.line, rc.span.col), (2, 1));
    match kind(&c, "r2") {
        ElementKind::Resistor { ohms, .. } => assert_eq!(*ohms, 1e5),
        k => panic!("{k:?}"),
    }
    // An error inside an included file names that file and line.
    std::fs::write(dir.join("common.inc"), "* bad\nRc c 0 5x.5\n").unwrap();
    let e = dfcsim::elaborate::load(&main).unwrap_err();
    assert!(e.span.file.ends_with("common.inc"), "{e}");
    assert_eq!((e.span.line, e.span.col), (2, 8), "{e}");
    assert!(e.to_string().contains("\n   2 | Rc c 0 5x.5"), "{e}");
    // A missing section is an error at the .lib card.
    let e = load_str(
        "t\n.lib sub/models.lib typical\n.op\n",
        &dir.join("other.cir"),
    )
    .unwrap_err();
    assert!(e.message.contains("section 'typical'"), "{e}");
    assert_eq!((e.span.line, e.span.col), (2, 6));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn uic_allows_capacitor_only_nodes_but_dc_does_not() {
    let net =
        |analysis: &str| format!("t\nI1 0 a 1u\nC1 a b 1n\nC2 b 0 1n\nR1 a 0 1k\n{analysis}\n");
    assert!(load_str(&net(".tran 1n 1u uic"), Path::new("t.cir")).is_ok());
    let e = load_str(&net(".tran 1n 1u"), Path::new("t.cir")).unwrap_err();
    assert_eq!(e.kind, dfcsim::elaborate::ErrorKind::FloatingNode);
    assert_eq!(e.text, "b");
    // Parallel inductors are a loop at DC only.
    let l = |analysis: &str| format!("t\nV1 a 0 1\nR1 a b 1\nL1 b 0 1u\nL2 b 0 2u\n{analysis}\n");
    assert!(load_str(&l(".tran 1n 1u uic"), Path::new("t.cir")).is_ok());
    let e = load_str(&l(".op"), Path::new("t.cir")).unwrap_err();
    assert_eq!(e.kind, dfcsim::elaborate::ErrorKind::VoltageLoop);
    assert!(e.message.contains("l1, l2"), "{e}");
}

#[test]
fn comment_forms_and_case() {
    let c = load(
        "comments
  * indented full-line comment
r1 A Gnd 1K $note without space
R2 a GND 2k $ note with space ; and more
R3 a 0 3k ; semicolon
R4 a 0 4k // slashes
V1 A 0 DC 1
+ ; a continuation holding only a comment
.OP
",
    );
    assert_eq!(c.nodes, vec!["0", "a"]);
    assert_eq!(names(&c), vec!["r1", "r2", "r3", "r4", "v1"]);
}

#[test]
fn dc_value_next_to_a_transient_function_is_reported() {
    let (c, w) = load_str_with_warnings(
        "t\nV1 a 0 DC 5 PULSE(1 2 1m)\nR1 a 0 1k\n.tran 0.1m 2m\n",
        Path::new("t.cir"),
    )
    .unwrap();
    assert!(matches!(
        kind(&c, "v1"),
        ElementKind::VoltageSource { wave: Waveform::Pulse { v1, .. }, .. } if *v1 == 1.0
    ));
    assert_eq!(w.len(), 1);
    assert!(w[0].message.contains("DC value ignored"), "{}", w[0]);
}

#[test]
fn braces_quotes_and_globals() {
    let c = load(
        "braces
.param k = 2 j = {k}+1 m='j * 2' n={k} , o = { {k} * {j} }
.global vdd
.subckt inv in out
B1 out 0 V = {k}*v(in) + v(vdd)
.ic v(out)=0.5
.ends
Vdd vdd 0 1
V1 a 0 1
X1 a y inv
Ry y 0 1k
R1 a 0 {m + n + o}
.op
",
    );
    match kind(&c, "r1") {
        ElementKind::Resistor { ohms, .. } => assert_eq!(*ohms, 6.0 + 2.0 + 6.0),
        k => panic!("{k:?}"),
    }
    let vdd = node(&c, "vdd");
    let a = node(&c, "a");
    match kind(&c, "b.x1.b1") {
        ElementKind::BehavioralVoltage { expr, .. } => assert_eq!(
            *expr,
            Expr::Binary(
                BinaryOp::Add,
                Box::new(Expr::Binary(
                    BinaryOp::Mul,
                    Box::new(Expr::Const(2.0)),
                    Box::new(Expr::NodeV(a))
                )),
                Box::new(Expr::NodeV(vdd))
            )
        ),
        k => panic!("{k:?}"),
    }
    assert_eq!(c.ics, vec![(node(&c, "y"), 0.5)]);
    assert!(c.find_node("x1.vdd").is_none());
}

#[test]
fn functions_evaluate_like_their_definitions() {
    let cases: &[(&str, f64)] = &[
        ("asin(0.5)", 0.5f64.asin()),
        ("acos(0.25)", 0.25f64.acos()),
        ("asinh(2)", 2f64.asinh()),
        ("acosh(3)", 3f64.acosh()),
        ("atanh(0.5)", 0.5f64.atanh()),
        ("pwr(-2, 3)", -8.0),
        // ngspice 39: `^` and `**` are |x|^y, pow() in .param is x^y (checked).
        ("(-2)^3 + (-2)**2", 12.0),
        ("pow(-2, 3)", -8.0),
        ("uramp(-2) + uramp(3)", 3.0),
        ("u(0) + 2*u(1) + 4*u(-1)", 2.5),
        ("sgn(-3) + 10*sgn(0)", -1.0),
        (
            "limit(5, -1, 1) + limit(-5, -1, 1) + limit(0.5, -1, 1)",
            0.5,
        ),
        ("log(exp(2)) + log10(1000) + ln(1)", 5.0),
        ("2**3**2 - 2^6 + 2^-1", 0.5), // left associative, as ngspice 39
        ("-2^2", -4.0),
        (
            "1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3 && 1 == 1 && 1 != 2 && !(0)",
            1.0,
        ),
        ("0 || 0 ? 1 : 7", 7.0),
        ("max(1, min(5, 3)) + abs(-2) + sqrt(16)", 9.0),
        ("pi", std::f64::consts::PI),
        (
            "tanh(1) + sinh(1) + cosh(1) + atan(1) + sin(1) + cos(1) + tan(1)",
            1f64.tanh()
                + 1f64.sinh()
                + 1f64.cosh()
                + 1f64.atan()
                + 1f64.sin()
                + 1f64.cos()
                + 1f64.tan(),
        ),
    ];
    for (text, want) in cases {
        let c = load(&format!(
            "f\n.param x = {{{text}}}\nV1 a 0 {{x}}\nR1 a 0 1\n.op\n"
        ));
        match kind(&c, "v1") {
            ElementKind::VoltageSource {
                wave: Waveform::Dc(v),
                ..
            } => {
                assert!(
                    (v - want).abs() <= 1e-12 * want.abs().max(1.0),
                    "{text}: {v} vs {want}"
                )
            }
            k => panic!("{k:?}"),
        }
    }
}

#[test]
fn parenthesised_controls_and_quoted_include_paths() {
    let dir = std::env::temp_dir().join(format!("dfcsim-q-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("with space")).unwrap();
    std::fs::write(dir.join("with space/part.inc"), "R2 o 0 1k\n").unwrap();
    let c = load_str(
        "t\nV1 a 0 1\nE1 o 0 (a, 0) 2\n.include \"with space/part.inc\"\n.op\n",
        &dir.join("main.cir"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    match kind(&c, "e1") {
        ElementKind::Vcvs { cp, gain, .. } => {
            assert_eq!(*cp, node(&c, "a"));
            assert_eq!(*gain, 2.0);
        }
        k => panic!("{k:?}"),
    }
    assert!(c.find_element("r2").is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pow_in_b_sources_takes_the_magnitude_like_ngspice() {
    // ngspice 39 prints 8 for B1 n 0 V=pow(-2,3), -8 for pwr(-2,3), 8 for (-2)^3.
    let c = load("p\nB1 a 0 V=pow(-2, 3) + 0*v(a)\nR1 a 0 1\n.op\n");
    match kind(&c, "b1") {
        ElementKind::BehavioralVoltage { expr, .. } => match expr {
            Expr::Binary(BinaryOp::Add, first, _) => assert_eq!(**first, Expr::Const(8.0)),
            e => panic!("{e:?}"),
        },
        k => panic!("{k:?}"),
    }
}

#[test]
fn latin1_bytes_in_comments_do_not_fail_the_file() {
    let dir = std::env::temp_dir().join(format!("dfcsim-l1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("latin1.cir");
    std::fs::write(
        &file,
        b"title \xb5\n* 10 \xb5F in Latin-1\nR1 a 0 1k\nV1 a 0 1\n.op\n",
    )
    .unwrap();
    let c = dfcsim::elaborate::load(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.title, "title \u{fffd}");
    assert_eq!(c.elements.len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
