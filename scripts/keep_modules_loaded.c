// Preloaded into the sanitizer runs of the suite (scripts/sanitize.sh asan): dlclose() does
// nothing, so the Vulkan loader's layers and drivers stay mapped until the process ends.
// LeakSanitizer then attributes every allocation to its module by name (an unloaded module's
// frames print as "<unknown module>", which no suppression can name), and memory a driver keeps
// in its globals is still reachable at exit instead of reported. Not used outside sanitizer runs.
int dlclose(void* handle) {
  (void)handle;
  return 0;
}
