//! The integration tests, one crate (one link, one binary) with a module per area: each module
//! drives the library or the real binary (`assert_cmd`) the way a user would.

mod support;

mod api_client;
mod apply_cli;
mod apply_e2e;
mod apply_executor;
mod apply_live;
mod apply_outputs;
mod apply_story;
mod ci_examples;
mod cli_plan_offline;
mod cli_validate;
mod completions_man;
mod crash_recovery;
mod credentials;
mod credentials_hardening;
mod emulator_api;
mod emulator_auth;
mod emulator_cli;
mod emulator_crash;
mod emulator_quota_faults;
mod emulator_truth;
mod emulator_unreachable;
mod export;
mod export_regions;
mod export_roundtrip;
mod files_in_place;
mod hostile_input;
mod manifest_props;
mod operator_output;
mod plan_apply;
mod plan_forgery;
mod plan_live;
mod plan_markdown;
mod plan_region_partial;
mod quota_cli;
mod quota_hardening;
mod quota_outage;
mod quota_pacer;
mod quota_script;
mod quota_status_account;
mod report_formats;
mod secrets;
mod signals;
mod waves;
