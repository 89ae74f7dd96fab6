export function App() {
  return (
    <main>
      <h1>Cairn</h1>
      <p>Least-authority storage: files are encrypted and erasure-coded in this tab before they leave it.</p>
    </main>
  );
}
