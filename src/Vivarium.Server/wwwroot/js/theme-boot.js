// A classic script in <head>, run before the first paint, so a chosen theme never flashes.
try {
  const theme = localStorage.getItem('vivarium.theme');
  if (theme === 'light' || theme === 'dark') {
    document.documentElement.dataset.theme = theme;
  }
} catch {
  // Storage can be disabled; the system preference applies.
}
