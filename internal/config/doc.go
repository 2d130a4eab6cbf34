// Package config owns Gatehouse's configuration: the schema (one struct per
// YAML section), the defaults (all in Default), loading from YAML with
// unknown keys reported as errors, GATEHOUSE_… environment overrides,
// secrets read from *_file paths, and Validate, which reports every problem
// with its YAML path.
//
// It must not open connections, touch the network or start anything: it
// only reads files named by the configuration and checks values.
package config
