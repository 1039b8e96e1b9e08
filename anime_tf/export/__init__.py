"""TFLite export: conversion (`tflite`), the fidelity and latency report (`report`), the entry point (`main`)."""
