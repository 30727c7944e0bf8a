//! AST to flat `Circuit`: `.param`, `.subckt` expansion, `.include`/`.lib`, `.model`.
