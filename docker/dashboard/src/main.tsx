import { render } from "preact";
import { App } from "./App";
import { loadConfig } from "./config";
import "./styles.css";

const root = document.getElementById("app")!;
loadConfig(window.fetch.bind(window)).then((cfg) => render(<App cfg={cfg} />, root));
