-- Capture install for the legacy source (placeholder until the engine's capture lands).
create schema if not exists sync_capture;
