//! Netlist text to AST (nom), with spans for every card and token.
