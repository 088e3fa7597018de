//! Tools around the HER-SYS gateway that the server does not run: the load
//! benchmarks (`hersys-tools bench …`), which start and drive a real
//! gateway, and the synthetic data set (`hersys-tools seed-synthetic`).
//! They use the gateway through the public API of the `hersys` library.

pub mod bench;
pub mod cli;
pub mod synthetic;
