//! Every promise of the pipeline on every transport (being written).
