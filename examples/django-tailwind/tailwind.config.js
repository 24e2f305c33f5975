/** Tailwind scans the templates for the classes the site uses. */
module.exports = {
  content: ["./pages/templates/**/*.html"],
  theme: { extend: {} },
  plugins: [],
};
