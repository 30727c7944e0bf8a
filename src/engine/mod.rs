//! MNA engine: unknown layout, sparsity pattern, sparse LU, Newton, `.op` and `.tran`.
