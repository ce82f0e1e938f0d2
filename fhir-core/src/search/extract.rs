//! Extraction of search parameter values from resources.
