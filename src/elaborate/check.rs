//! Topology checks that ngspice would only report as a singular matrix: nodes without a DC
//! path to ground, and loops of voltage-defined branches. Both are union-find passes over
//! the flat circuit, linear in its size.

use std::collections::VecDeque;

use crate::circuit::{Analysis, Circuit, ElementKind, NodeId, Port};
use crate::parse::error::{ErrorKind, NetlistError, Result};
use crate::span::Span;

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
        }
    }
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }
}

/// Whether the analyses need a DC operating point (capacitors open, inductors shorted).
/// Only `.tran … uic` skips it.
pub fn needs_dc_point(c: &Circuit) -> bool {
    c.analyses.is_empty()
        || c.analyses
            .iter()
            .any(|a| matches!(a, Analysis::Op | Analysis::Tran { uic: false, .. }))
}

/// The two terminals of a branch that fixes a voltage (V, E, H, B-V; L at DC).
fn voltage_branch(kind: &ElementKind, dc: bool) -> Option<(NodeId, NodeId)> {
    match *kind {
        ElementKind::VoltageSource { p, n, .. }
        | ElementKind::Vcvs { p, n, .. }
        | ElementKind::Ccvs { p, n, .. }
        | ElementKind::BehavioralVoltage { p, n, .. } => Some((p, n)),
        ElementKind::Inductor { p, n, .. } if dc => Some((p, n)),
        _ => None,
    }
}

/// `first_use[node]`: where each node was first written, for the error message.
pub fn check(c: &Circuit, first_use: &[Span]) -> Result<()> {
    let dc = needs_dc_point(c);
    check_voltage_loops(c, dc)?;
    check_floating(c, dc, first_use)
}

fn check_floating(c: &Circuit, dc: bool, first_use: &[Span]) -> Result<()> {
    let mut uf = UnionFind::new(c.nodes.len());
    for e in &c.elements {
        match &e.kind {
            ElementKind::Resistor { p, n, .. }
            | ElementKind::Inductor { p, n, .. }
            | ElementKind::VoltageSource { p, n, .. }
            | ElementKind::Vcvs { p, n, .. }
            | ElementKind::Ccvs { p, n, .. }
            | ElementKind::BehavioralVoltage { p, n, .. } => uf.union(p.0, n.0),
            ElementKind::Capacitor { p, n, .. } if !dc => uf.union(p.0, n.0),
            // The array device's internals are unknown here: assume it ties its ports.
            ElementKind::Array { ports, .. } => {
                for port in ports {
                    match port {
                        Port::Scalar(n) => uf.union(n.0, 0),
                        Port::Vector(v) => v.iter().for_each(|n| uf.union(n.0, 0)),
                    }
                }
            }
            _ => {}
        }
    }
    let ground = uf.find(0);
    let floating: Vec<usize> = (1..c.nodes.len())
        .filter(|&i| uf.find(i) != ground)
        .collect();
    let Some(&first) = floating.first() else {
        return Ok(());
    };
    let names: Vec<&str> = floating
        .iter()
        .take(8)
        .map(|&i| c.nodes[i].as_str())
        .collect();
    let more = if floating.len() > 8 { ", …" } else { "" };
    Err(NetlistError::new(
        ErrorKind::FloatingNode,
        first_use.get(first).cloned().unwrap_or_default(),
        c.nodes[first].clone(),
        format!(
            "node '{}' has no DC path to ground (floating: {}{more})",
            c.nodes[first],
            names.join(", ")
        ),
        "nodes connected only through capacitors, current sources or controlling inputs make \
         the DC matrix singular; add a large resistor to ground (e.g. 1G) or a missing wire",
    ))
}

fn check_voltage_loops(c: &Circuit, dc: bool) -> Result<()> {
    let mut uf = UnionFind::new(c.nodes.len());
    // Adjacency of the voltage branches added so far: (neighbour, element index).
    let mut adj: Vec<Vec<(usize, usize)>> = vec![Vec::new(); c.nodes.len()];
    for (idx, e) in c.elements.iter().enumerate() {
        let Some((p, n)) = voltage_branch(&e.kind, dc) else {
            continue;
        };
        if uf.find(p.0) == uf.find(n.0) {
            let mut loop_elems = path_between(&adj, p.0, n.0);
            loop_elems.push(idx);
            let names: Vec<&str> = loop_elems
                .iter()
                .map(|&i| c.elements[i].name.as_str())
                .collect();
            return Err(NetlistError::new(
                ErrorKind::VoltageLoop,
                e.span.clone(),
                e.name.clone(),
                format!("loop of voltage sources: {}", names.join(", ")),
                "voltage sources, E/H/B-V outputs and (at DC) inductors must not form a loop; \
                 add a series resistor or remove one of them",
            ));
        }
        uf.union(p.0, n.0);
        adj[p.0].push((n.0, idx));
        adj[n.0].push((p.0, idx));
    }
    Ok(())
}

/// Elements on the path from `a` to `b` in a forest (breadth first).
fn path_between(adj: &[Vec<(usize, usize)>], a: usize, b: usize) -> Vec<usize> {
    if a == b {
        return Vec::new();
    }
    let mut came_from: Vec<Option<(usize, usize)>> = vec![None; adj.len()];
    let mut seen = vec![false; adj.len()];
    let mut queue = VecDeque::from([a]);
    seen[a] = true;
    while let Some(x) = queue.pop_front() {
        if x == b {
            break;
        }
        for &(y, e) in &adj[x] {
            if !seen[y] {
                seen[y] = true;
                came_from[y] = Some((x, e));
                queue.push_back(y);
            }
        }
    }
    let mut out = Vec::new();
    let mut x = b;
    while let Some((prev, e)) = came_from[x] {
        out.push(e);
        x = prev;
    }
    out.reverse();
    out
}
